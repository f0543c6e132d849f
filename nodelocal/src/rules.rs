//! The rules that take the cache's traffic out of connection tracking (NOTRACK) and let
//! it through the host's filter (ACCEPT), for the local IPs on the DNS port (UDP and TCP)
//! and the health port (TCP), as node-cache installs them.
//!
//! With nftables they live in one table of their own, `inet clusterdns-nodelocal`:
//! installing is one atomic transaction (create, flush by delete, fill), checking is
//! comparing the table's listing with the one made after installing, and removing is
//! one `delete table`, which touches nothing else on the host. Where `nft` cannot be
//! used the same rules go to iptables, with node-cache's own arguments and comments.
//!
//! One caveat of nftables: `accept` ends the evaluation of one base chain only. Our
//! ACCEPT rules therefore open the way in our table, but a DROP in another table at the
//! same hook (a host firewall) still applies; the NOTRACK rules work regardless.

use std::net::IpAddr;

use crate::command::{CommandError, available, run};
use crate::flags::Firewall;

/// The nftables table the rules live in (family `inet`: IPv4 and IPv6).
pub const TABLE: &str = "clusterdns-nodelocal";
/// node-cache's iptables comments, so that tools that look for them find ours.
const COMMENT_NOTRACK: &str = "NodeLocal DNS Cache: skip conntrack";
const COMMENT_ACCEPT: &str = "NodeLocal DNS Cache: allow DNS traffic";
/// How long iptables waits for the xtables lock before giving up.
const XTABLES_WAIT_SECONDS: &str = "5";

/// Where the rules go, decided once at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Nftables,
    Iptables,
}

impl Backend {
    /// The backend `firewall` asks for; `auto` is nftables when `nft` works here.
    pub fn choose(firewall: Firewall) -> Result<Self, RulesError> {
        match firewall {
            Firewall::Nftables => Ok(Self::Nftables),
            Firewall::Iptables => Ok(Self::Iptables),
            Firewall::Auto if available("nft", &["list", "tables"]) => Ok(Self::Nftables),
            Firewall::Auto if available("iptables", &["-V"]) => Ok(Self::Iptables),
            Firewall::Auto => Err(RulesError::NoFirewall),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Nftables => "nftables",
            Self::Iptables => "iptables",
        }
    }
}

/// The rules could not be checked, installed or removed.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("neither `nft list tables` nor `iptables -V` works here")]
    NoFirewall,
    #[error("nftables: {0}")]
    Nftables(CommandError),
    #[error("iptables: {0}")]
    Iptables(CommandError),
}

impl RulesError {
    /// node-cache's `errortype` label for this failure (`nftables` is ours).
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Nftables(_) => "nftables",
            Self::Iptables(error) if error.stderr().contains("xtables lock") => "iptables_lock",
            Self::Iptables(_) | Self::NoFirewall => "iptables",
        }
    }
}

/// What [`Rules::ensure`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensured {
    Present,
    /// Missing or changed, and installed anew.
    Installed,
}

/// The rules for one set of local IPs and ports.
#[derive(Debug)]
pub struct Rules {
    backend: Backend,
    ips: Vec<IpAddr>,
    dns_port: u16,
    health_port: u16,
    /// nftables: the table's listing right after we installed it.
    installed_listing: Option<String>,
}

impl Rules {
    pub fn new(backend: Backend, ips: &[IpAddr], dns_port: u16, health_port: u16) -> Self {
        Self {
            backend,
            ips: ips.to_vec(),
            dns_port,
            health_port,
            installed_listing: None,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Installs the rules if any is missing or changed.
    pub fn ensure(&mut self) -> Result<Ensured, RulesError> {
        match self.backend {
            Backend::Nftables => self.ensure_nftables().map_err(RulesError::Nftables),
            Backend::Iptables => self.ensure_iptables().map_err(RulesError::Iptables),
        }
    }

    /// Removes every rule this set installs (a missing one is no error).
    pub fn remove(&mut self) -> Result<(), RulesError> {
        self.installed_listing = None;
        match self.backend {
            Backend::Nftables => match run("nft", &["delete", "table", "inet", TABLE], None) {
                Ok(_) => Ok(()),
                Err(error) if is_missing_table(&error) => Ok(()),
                Err(error) => Err(RulesError::Nftables(error)),
            },
            Backend::Iptables => self.remove_iptables().map_err(RulesError::Iptables),
        }
    }

    fn ensure_nftables(&mut self) -> Result<Ensured, CommandError> {
        if let Some(installed) = &self.installed_listing {
            match list_table() {
                Ok(listing) if &listing == installed => return Ok(Ensured::Present),
                Ok(_) => {}
                Err(error) if is_missing_table(&error) => {}
                Err(error) => return Err(error),
            }
        }
        // One transaction: declaring the table first makes the delete valid when it
        // does not exist yet; readers see the old table or the new, never none.
        let script = format!(
            "table inet {TABLE}\ndelete table inet {TABLE}\n{}",
            nftables_ruleset(&self.ips, self.dns_port, self.health_port)
        );
        run("nft", &["-f", "-"], Some(&script))?;
        self.installed_listing = Some(list_table()?);
        Ok(Ensured::Installed)
    }

    fn ensure_iptables(&mut self) -> Result<Ensured, CommandError> {
        let mut result = Ensured::Present;
        for rule in iptables_rules(&self.ips, self.dns_port, self.health_port) {
            if iptables(&rule, "-C").is_ok() {
                continue;
            }
            iptables(&rule, "-I")?;
            result = Ensured::Installed;
        }
        Ok(result)
    }

    fn remove_iptables(&mut self) -> Result<(), CommandError> {
        for rule in iptables_rules(&self.ips, self.dns_port, self.health_port) {
            // A rule added twice (by hand, or by node-cache before us) is deleted as
            // often as it is there, within a bound.
            for _ in 0..8 {
                if iptables(&rule, "-C").is_err() {
                    break;
                }
                iptables(&rule, "-D")?;
            }
        }
        Ok(())
    }
}

fn list_table() -> Result<String, CommandError> {
    run("nft", &["list", "table", "inet", TABLE], None)
}

fn is_missing_table(error: &CommandError) -> bool {
    error.stderr().contains("No such file or directory")
}

/// The whole table, in nft's own syntax.
pub fn nftables_ruleset(ips: &[IpAddr], dns_port: u16, health_port: u16) -> String {
    let mut prerouting = String::new();
    let mut output_raw = String::new();
    let mut input = String::new();
    let mut output = String::new();
    for (family, set) in [
        ("ip", address_set(ips, true)),
        ("ip6", address_set(ips, false)),
    ] {
        let Some(set) = set else { continue };
        let dns = format!("meta l4proto {{ tcp, udp }} th dport {dns_port}");
        let dns_reply = format!("meta l4proto {{ tcp, udp }} th sport {dns_port}");
        prerouting +=
            &format!("\t\t{family} daddr {set} {dns} notrack comment \"{COMMENT_NOTRACK}\"\n");
        output_raw += &format!(
            "\t\t{family} saddr {set} {dns_reply} notrack comment \"{COMMENT_NOTRACK}\"\n\
             \t\t{family} daddr {set} {dns} notrack comment \"{COMMENT_NOTRACK}\"\n\
             \t\t{family} daddr {set} tcp dport {health_port} notrack comment \"{COMMENT_NOTRACK}\"\n\
             \t\t{family} saddr {set} tcp sport {health_port} notrack comment \"{COMMENT_NOTRACK}\"\n"
        );
        input += &format!("\t\t{family} daddr {set} {dns} accept comment \"{COMMENT_ACCEPT}\"\n");
        output +=
            &format!("\t\t{family} saddr {set} {dns_reply} accept comment \"{COMMENT_ACCEPT}\"\n");
    }
    format!(
        "table inet {TABLE} {{\n\
         \tchain prerouting {{\n\t\ttype filter hook prerouting priority raw; policy accept;\n{prerouting}\t}}\n\
         \tchain output-raw {{\n\t\ttype filter hook output priority raw; policy accept;\n{output_raw}\t}}\n\
         \tchain input {{\n\t\ttype filter hook input priority filter; policy accept;\n{input}\t}}\n\
         \tchain output {{\n\t\ttype filter hook output priority filter; policy accept;\n{output}\t}}\n\
         }}\n"
    )
}

/// `{ a, b }` of the addresses of one family, or `None` when there are none.
fn address_set(ips: &[IpAddr], v4: bool) -> Option<String> {
    let members: Vec<String> = ips
        .iter()
        .filter(|ip| ip.is_ipv4() == v4)
        .map(IpAddr::to_string)
        .collect();
    (!members.is_empty()).then(|| format!("{{ {} }}", members.join(", ")))
}

/// One iptables rule: its program (`iptables` or `ip6tables`), table, chain and match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IptablesRule {
    program: &'static str,
    table: &'static str,
    chain: &'static str,
    args: Vec<String>,
}

/// node-cache's rules, per local IP.
pub fn iptables_rules(ips: &[IpAddr], dns_port: u16, health_port: u16) -> Vec<IptablesRule> {
    let dns = dns_port.to_string();
    let health = health_port.to_string();
    let mut rules = Vec::new();
    for ip in ips {
        let program = if ip.is_ipv4() {
            "iptables"
        } else {
            "ip6tables"
        };
        let ip = ip.to_string();
        let mut add = |table, chain, proto, dir: &str, port: &str, target, comment| {
            let (addr_flag, port_flag) = if dir == "d" {
                ("-d", "--dport")
            } else {
                ("-s", "--sport")
            };
            rules.push(IptablesRule {
                program,
                table,
                chain,
                args: [
                    "-p",
                    proto,
                    addr_flag,
                    &ip,
                    port_flag,
                    port,
                    "-j",
                    target,
                    "-m",
                    "comment",
                    "--comment",
                    comment,
                ]
                .map(str::to_owned)
                .to_vec(),
            });
        };
        for proto in ["tcp", "udp"] {
            add(
                "raw",
                "PREROUTING",
                proto,
                "d",
                &dns,
                "NOTRACK",
                COMMENT_NOTRACK,
            );
            add(
                "filter",
                "INPUT",
                proto,
                "d",
                &dns,
                "ACCEPT",
                COMMENT_ACCEPT,
            );
            add(
                "raw",
                "OUTPUT",
                proto,
                "s",
                &dns,
                "NOTRACK",
                COMMENT_NOTRACK,
            );
            add(
                "filter",
                "OUTPUT",
                proto,
                "s",
                &dns,
                "ACCEPT",
                COMMENT_ACCEPT,
            );
            add(
                "raw",
                "OUTPUT",
                proto,
                "d",
                &dns,
                "NOTRACK",
                COMMENT_NOTRACK,
            );
        }
        add(
            "raw",
            "OUTPUT",
            "tcp",
            "d",
            &health,
            "NOTRACK",
            COMMENT_NOTRACK,
        );
        add(
            "raw",
            "OUTPUT",
            "tcp",
            "s",
            &health,
            "NOTRACK",
            COMMENT_NOTRACK,
        );
    }
    rules
}

fn iptables(rule: &IptablesRule, operation: &str) -> Result<String, CommandError> {
    let mut args = vec![
        "-w",
        XTABLES_WAIT_SECONDS,
        "-t",
        rule.table,
        operation,
        rule.chain,
    ];
    args.extend(rule.args.iter().map(String::as_str));
    run(rule.program, &args, None)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_ruleset_covers_dns_and_health_for_every_address() {
        let ips = [
            "169.254.20.10".parse().unwrap(),
            "10.96.0.10".parse().unwrap(),
        ];
        let text = nftables_ruleset(&ips, 53, 8080);
        assert!(
            text.starts_with("table inet clusterdns-nodelocal {\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "ip daddr { 169.254.20.10, 10.96.0.10 } meta l4proto { tcp, udp } th dport 53 notrack"
            ),
            "{text}"
        );
        assert!(text.contains("tcp dport 8080 notrack"), "{text}");
        assert!(
            text.contains("type filter hook prerouting priority raw;"),
            "{text}"
        );
        assert!(!text.contains("ip6 "), "{text}");
        assert_eq!(text.matches(" accept comment").count(), 2, "{text}");
        let v6 = nftables_ruleset(&["fd00::10".parse().unwrap()], 53, 8080);
        assert!(v6.contains("ip6 daddr { fd00::10 }"), "{v6}");
    }

    #[test]
    fn iptables_rules_are_node_caches() {
        let rules = iptables_rules(&["169.254.20.10".parse().unwrap()], 53, 8080);
        assert_eq!(rules.len(), 12);
        assert_eq!(
            rules[0].args.join(" "),
            "-p tcp -d 169.254.20.10 --dport 53 -j NOTRACK -m comment --comment NodeLocal DNS Cache: skip conntrack"
        );
        assert!(rules.iter().all(|r| r.program == "iptables"));
        let v6 = iptables_rules(&["fd00::10".parse().unwrap()], 53, 8080);
        assert!(v6.iter().all(|r| r.program == "ip6tables"));
    }
}
