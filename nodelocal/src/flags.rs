//! node-cache's command-line flags, taken out of the command line before the server's
//! own flags are read, so that a NodeLocal DNSCache DaemonSet's `args` work unchanged.
//!
//! Go's `flag` syntax: `-name value`, `-name=value`, one or two dashes; a boolean flag
//! alone means true, `-name=false` turns it off (`-name false` is not a boolean's value
//! in Go either). `-localip` switches node-local mode on; the other flags without it are
//! an error rather than silently ignored.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The default interface name, node-cache's.
pub const DEFAULT_INTERFACE: &str = "nodelocaldns";
/// node-cache's default template path (the ConfigMap mounted at /etc/coredns).
pub const DEFAULT_BASE_COREFILE: &str = "/etc/coredns/Corefile.base";
/// The longest interface name Linux accepts (IFNAMSIZ - 1).
const MAX_INTERFACE_NAME: usize = 15;

/// Which firewall the rules go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firewall {
    /// nftables when `nft` works here, iptables otherwise.
    Auto,
    Nftables,
    Iptables,
}

/// What node-local mode was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLocalFlags {
    /// `-localip`: the addresses the cache answers on (one family).
    pub local_ips: Vec<IpAddr>,
    /// `-setupinterface` (default true): create the dummy interface with the local IPs.
    pub setup_interface: bool,
    /// `-interfacename` (default `nodelocaldns`).
    pub interface_name: String,
    /// `-setupiptables` (default true): install the NOTRACK and ACCEPT rules.
    pub setup_rules: bool,
    /// `-firewall auto|nftables|iptables` (default auto): where the rules go.
    pub firewall: Firewall,
    /// `-syncinterval` (default 60 s): how often the interface and rules are checked.
    pub sync_interval: Duration,
    /// `-skipteardown`: leave the interface and rules in place on exit.
    pub skip_teardown: bool,
    /// `-health-port` (default 8080): the health plugin's port, also exempt from conntrack.
    pub health_port: u16,
    /// `-basecorefile`: the template; `None` means node-cache's default path, used only
    /// when it exists.
    pub base_corefile: Option<PathBuf>,
    /// `-upstreamsvc` (default `kube-dns`): the Service whose `<NAME>_SERVICE_HOST`
    /// variable replaces `__PILLAR__CLUSTER__DNS__`.
    pub upstream_service: String,
    /// `-readyfile PATH` (ours): created once the server serves and the rules are in
    /// place, removed on exit; for a readiness probe that only this process can answer
    /// (its HTTP ports are shared with the process it replaces).
    pub ready_file: Option<PathBuf>,
}

impl NodeLocalFlags {
    fn defaults() -> Self {
        Self {
            local_ips: Vec::new(),
            setup_interface: true,
            interface_name: DEFAULT_INTERFACE.to_owned(),
            setup_rules: true,
            firewall: Firewall::Auto,
            sync_interval: Duration::from_secs(60),
            skip_teardown: false,
            health_port: 8080,
            base_corefile: None,
            upstream_service: "kube-dns".to_owned(),
            ready_file: None,
        }
    }
}

/// A node-cache flag with a bad value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    #[error("-{0} needs a value")]
    MissingValue(&'static str),
    #[error("-{flag}: {problem}")]
    Invalid { flag: &'static str, problem: String },
    #[error("{0} only applies in node-local mode, which -localip switches on")]
    WithoutLocalIp(String),
}

fn invalid(flag: &'static str, problem: impl Into<String>) -> FlagError {
    FlagError::Invalid {
        flag,
        problem: problem.into(),
    }
}

/// Splits node-cache's flags off `args`: the arguments left for the server, and the
/// node-local settings when `-localip` was given.
pub fn split_flags(
    args: impl IntoIterator<Item = String>,
) -> Result<(Vec<String>, Option<NodeLocalFlags>), FlagError> {
    let mut rest = Vec::new();
    let mut flags = NodeLocalFlags::defaults();
    let mut seen = None;
    let mut local_ip_given = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let bare = arg.trim_start_matches('-');
        if bare.len() == arg.len() || bare.is_empty() {
            rest.push(arg);
            continue;
        }
        let (name, inline) = match bare.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (bare, None),
        };
        let Some(flag) = Flag::named(name) else {
            rest.push(arg);
            continue;
        };
        seen.get_or_insert_with(|| format!("-{name}"));
        if flag.is_bool() {
            let value = match inline.as_deref() {
                None => true,
                Some(text) => parse_bool(text).ok_or_else(|| {
                    invalid(flag.name(), format!("expected true or false, got {text:?}"))
                })?,
            };
            flag.set_bool(&mut flags, value);
            continue;
        }
        let value = match inline {
            Some(value) => value,
            None => args.next().ok_or(FlagError::MissingValue(flag.name()))?,
        };
        if flag == Flag::LocalIp {
            local_ip_given = true;
        }
        flag.set_value(&mut flags, &value)?;
    }
    match (local_ip_given, seen) {
        (true, _) => Ok((rest, Some(flags))),
        (false, Some(name)) => Err(FlagError::WithoutLocalIp(name)),
        (false, None) => Ok((rest, None)),
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    // Go's strconv.ParseBool.
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flag {
    LocalIp,
    SetupInterface,
    InterfaceName,
    SetupIptables,
    Firewall,
    SyncInterval,
    SkipTeardown,
    HealthPort,
    BaseCorefile,
    UpstreamSvc,
    ReadyFile,
}

impl Flag {
    const ALL: [Flag; 11] = [
        Flag::LocalIp,
        Flag::SetupInterface,
        Flag::InterfaceName,
        Flag::SetupIptables,
        Flag::Firewall,
        Flag::SyncInterval,
        Flag::SkipTeardown,
        Flag::HealthPort,
        Flag::BaseCorefile,
        Flag::UpstreamSvc,
        Flag::ReadyFile,
    ];

    fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|flag| flag.name() == name)
    }

    fn name(self) -> &'static str {
        match self {
            Flag::LocalIp => "localip",
            Flag::SetupInterface => "setupinterface",
            Flag::InterfaceName => "interfacename",
            Flag::SetupIptables => "setupiptables",
            Flag::Firewall => "firewall",
            Flag::SyncInterval => "syncinterval",
            Flag::SkipTeardown => "skipteardown",
            Flag::HealthPort => "health-port",
            Flag::BaseCorefile => "basecorefile",
            Flag::UpstreamSvc => "upstreamsvc",
            Flag::ReadyFile => "readyfile",
        }
    }

    fn is_bool(self) -> bool {
        matches!(
            self,
            Flag::SetupInterface | Flag::SetupIptables | Flag::SkipTeardown
        )
    }

    fn set_bool(self, flags: &mut NodeLocalFlags, value: bool) {
        match self {
            Flag::SetupInterface => flags.setup_interface = value,
            Flag::SetupIptables => flags.setup_rules = value,
            Flag::SkipTeardown => flags.skip_teardown = value,
            _ => {}
        }
    }

    fn set_value(self, flags: &mut NodeLocalFlags, value: &str) -> Result<(), FlagError> {
        let name = self.name();
        match self {
            Flag::LocalIp => flags.local_ips = parse_local_ips(value)?,
            Flag::InterfaceName => {
                let valid = !value.is_empty()
                    && value.len() <= MAX_INTERFACE_NAME
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
                if !valid {
                    return Err(invalid(
                        name,
                        format!("{value:?} is not an interface name (1 to 15 of a-z, 0-9, - _ .)"),
                    ));
                }
                flags.interface_name = value.to_owned();
            }
            Flag::Firewall => {
                flags.firewall = match value {
                    "auto" => Firewall::Auto,
                    "nftables" | "nft" => Firewall::Nftables,
                    "iptables" => Firewall::Iptables,
                    _ => {
                        return Err(invalid(
                            name,
                            format!("expected auto, nftables or iptables, got {value:?}"),
                        ));
                    }
                }
            }
            Flag::SyncInterval => {
                flags.sync_interval =
                    parse_interval(value)
                        .filter(|d| !d.is_zero())
                        .ok_or_else(|| {
                            invalid(
                                name,
                                format!(
                                    "expected seconds or a duration (60, 60s, 1m), got {value:?}"
                                ),
                            )
                        })?;
            }
            Flag::HealthPort => {
                flags.health_port = value
                    .parse()
                    .map_err(|_| invalid(name, format!("expected a port, got {value:?}")))?;
            }
            Flag::BaseCorefile => flags.base_corefile = Some(PathBuf::from(value)),
            Flag::ReadyFile => flags.ready_file = Some(PathBuf::from(value)),
            Flag::UpstreamSvc => {
                if value.is_empty() {
                    return Err(invalid(name, "empty service name"));
                }
                flags.upstream_service = value.to_owned();
            }
            Flag::SetupInterface | Flag::SetupIptables | Flag::SkipTeardown => {}
        }
        Ok(())
    }
}

/// `-localip`: comma-separated addresses of one family, as node-cache requires.
fn parse_local_ips(value: &str) -> Result<Vec<IpAddr>, FlagError> {
    let mut ips = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let ip: IpAddr = part
            .parse()
            .map_err(|_| invalid("localip", format!("invalid address {part:?}")))?;
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    let Some(first) = ips.first() else {
        return Err(invalid("localip", "no address"));
    };
    if ips.iter().any(|ip| ip.is_ipv4() != first.is_ipv4()) {
        return Err(invalid(
            "localip",
            "the addresses must be of one family (IPv4 or IPv6)",
        ));
    }
    Ok(ips)
}

/// Seconds (`60`, node-cache's documented form) or a Go duration of one unit
/// (`500ms`, `60s`, `1m`, `1h`).
fn parse_interval(text: &str) -> Option<Duration> {
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let digits = text.find(|c: char| !c.is_ascii_digit())?;
    let number: u64 = text[..digits].parse().ok()?;
    match &text[digits..] {
        "ms" => Some(Duration::from_millis(number)),
        "s" => Some(Duration::from_secs(number)),
        "m" => Some(Duration::from_secs(number.checked_mul(60)?)),
        "h" => Some(Duration::from_secs(number.checked_mul(3600)?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn split(args: &[&str]) -> Result<(Vec<String>, Option<NodeLocalFlags>), FlagError> {
        split_flags(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn upstream_daemonset_args_are_accepted() {
        // The args of kubernetes/dns's nodelocaldns.yaml, with the pillars filled in.
        let (rest, flags) = split(&[
            "-localip",
            "169.254.20.10,10.96.0.10",
            "-conf",
            "/etc/Corefile",
            "-upstreamsvc",
            "kube-dns-upstream",
        ])
        .unwrap();
        assert_eq!(rest, ["-conf", "/etc/Corefile"]);
        let flags = flags.unwrap();
        assert_eq!(
            flags.local_ips,
            [
                "169.254.20.10".parse::<IpAddr>().unwrap(),
                "10.96.0.10".parse().unwrap()
            ]
        );
        assert_eq!(flags.upstream_service, "kube-dns-upstream");
        assert!(flags.setup_interface && flags.setup_rules && !flags.skip_teardown);
        assert_eq!(flags.interface_name, "nodelocaldns");
        assert_eq!(flags.sync_interval, Duration::from_secs(60));
    }

    #[test]
    fn booleans_and_durations_follow_go_flag_syntax() {
        let (rest, flags) = split(&[
            "--localip=169.254.20.10",
            "-setupinterface=false",
            "-skipteardown",
            "-syncinterval",
            "2s",
            "-firewall=iptables",
            "-interfacename",
            "dns0",
            "-readyfile=/run/clusterdns/ready",
            "--dns-port",
            "5353",
        ])
        .unwrap();
        assert_eq!(rest, ["--dns-port", "5353"]);
        let flags = flags.unwrap();
        assert!(!flags.setup_interface && flags.skip_teardown);
        assert_eq!(flags.sync_interval, Duration::from_secs(2));
        assert_eq!(flags.firewall, Firewall::Iptables);
        assert_eq!(flags.interface_name, "dns0");
        assert_eq!(
            flags.ready_file,
            Some(PathBuf::from("/run/clusterdns/ready"))
        );
        assert_eq!(parse_interval("1m"), Some(Duration::from_secs(60)));
        assert_eq!(parse_interval("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_interval("1x"), None);
    }

    #[test]
    fn without_localip_nothing_changes_and_stray_flags_are_errors() {
        assert_eq!(
            split(&["-conf", "x", "-dns.port", "53"]).unwrap(),
            (
                vec!["-conf".into(), "x".into(), "-dns.port".into(), "53".into()],
                None
            )
        );
        assert!(matches!(
            split(&["-skipteardown"]),
            Err(FlagError::WithoutLocalIp(_))
        ));
    }

    #[test]
    fn bad_values_are_clear_errors() {
        for args in [
            &["-localip", "169.254.20.10,fd00::10"][..],
            &["-localip", "nonsense"],
            &["-localip", ""],
            &["-localip"],
            &["-localip", "10.0.0.1", "-syncinterval", "0"],
            &["-localip", "10.0.0.1", "-health-port", "99999"],
            &[
                "-localip",
                "10.0.0.1",
                "-interfacename",
                "much-too-long-a-name",
            ],
            &["-localip", "10.0.0.1", "-firewall", "pf"],
            &["-localip", "10.0.0.1", "-skipteardown=maybe"],
        ] {
            let error = split(args).unwrap_err();
            assert!(!error.to_string().is_empty(), "{args:?}");
        }
    }
}
