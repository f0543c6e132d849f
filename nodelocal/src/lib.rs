//! Node-local mode: what k8s-dns-node-cache does around the DNS server, so that the same
//! `clusterdns` binary can run as the per-node cache of NodeLocal DNSCache.
//!
//! * [`flags`]: node-cache's command-line flags (`-localip`, `-setupinterface`,
//!   `-setupiptables`, `-syncinterval`, `-skipteardown`, ...), split off the rest of the
//!   command line so that a DaemonSet's arguments can be copied as they are.
//! * [`corefile`]: the `__PILLAR__` substitution node-cache makes in its Corefile
//!   template at start.
//! * [`interface`]: the dummy interface holding the local IPs (`ip`).
//! * [`rules`]: the NOTRACK and ACCEPT rules for the local IPs, in a table of their own
//!   with nftables (`nft`), or node-cache's iptables rules where nftables is missing.
//! * [`setup`]: the periodic check that re-creates what someone removed, the
//!   `coredns_nodecache_setup_errors_total` counter, and the teardown on exit, which is
//!   skipped while a successor process serves the same addresses (an upgrade).
//!
//! Nothing here needs the Kubernetes API: the node's state is the host's interfaces and
//! firewall, driven through the same command-line tools an operator would use (the
//! crate's README says why).

pub mod command;
pub mod corefile;
pub mod flags;
pub mod interface;
pub mod metrics;
pub mod rules;
pub mod setup;
pub mod successor;

pub use flags::{NodeLocalFlags, split_flags};
pub use setup::{NodeSetup, SetupError, filled_in_template};
