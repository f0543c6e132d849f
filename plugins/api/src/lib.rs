//! The plugin interface of clusterdns.
//!
//! Every plugin crate depends on this one and on nothing else of the server, so the
//! server can depend on all plugins without a cycle. It holds:
//!
//! - [`Plugin`], [`Next`] and [`PluginError`]: how a plugin sees a query and the rest of the chain;
//! - [`Ctx`] and [`Response`]: the query as a plugin reads it, and the answer it returns;
//! - [`Directive`], [`Token`] and [`ConfigError`]: how a plugin reads its Corefile block;
//! - [`SetupCtx`]: what a plugin may register with the server while it is built
//!   (HTTP routes, listen addresses, the lameduck delay);
//! - [`ClusterDirectory`] and [`ClusterHandle`]: the cluster index, as plugins that run
//!   before `kubernetes` (`autopath`, `k8s_external`) read it;
//! - [`Readiness`], [`metrics`] and [`Fallthrough`]: shared helpers.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod addr;
pub mod cluster;
mod ctx;
mod directive;
mod fallthrough;
pub mod metrics;
pub mod pattern;
mod plugin;
mod readiness;
mod response;
mod setup;
#[cfg(feature = "testing")]
pub mod testing;
pub mod wire;
pub mod zone;

pub use addr::{http_endpoint, listen_addr};
pub use cluster::{ClusterDirectory, ClusterHandle};
pub use ctx::{Ctx, Protocol};
pub use directive::{ConfigError, Directive, Token, parse_duration};
pub use fallthrough::Fallthrough;
pub use plugin::{BoxFuture, Next, Plugin, PluginError};
pub use readiness::Readiness;
pub use response::Response;
pub use setup::{HttpHandler, HttpReply, HttpRoute, ReloadSchedule, SetupCtx};

/// Re-exported so plugins build records with the same hickory-proto version as the server.
pub use hickory_proto as proto;
