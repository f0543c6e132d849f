//! Reading the `forward` directive.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clusterdns_api::proto::op::ResponseCode;
use clusterdns_api::proto::rr::Name;
use clusterdns_api::zone::parse_zone;
use clusterdns_api::{ConfigError, Directive, SetupCtx, Token};
use tokio_rustls::rustls::ClientConfig;

use crate::policy::Policy;
use crate::{rcode, tls};

/// CoreDNS's limit on the number of upstreams of one `forward`.
pub(crate) const MAX_UPSTREAMS: usize = 15;
/// How long an idle cached connection is kept.
pub(crate) const DEFAULT_EXPIRE: Duration = Duration::from_secs(10);
/// How long one attempt waits for an upstream's answer.
pub(crate) const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(2);
/// The interval between health checks of an upstream that failed.
pub(crate) const DEFAULT_HEALTH_CHECK: Duration = Duration::from_millis(500);
/// Consecutive failures that mark an upstream down.
pub(crate) const DEFAULT_MAX_FAILS: u32 = 2;
/// Connection attempts per query, per upstream, unless `max_connect_attempts` says.
pub(crate) const ATTEMPTS_PER_UPSTREAM: u32 = 2;

/// One upstream: where it is and how to talk to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UpstreamAddr {
    /// Address and port.
    pub addr: SocketAddr,
    /// Whether it is reached over DNS-over-TLS (`tls://`).
    pub tls: bool,
    /// The TLS server name written with it (`tls://IP%NAME`).
    pub server_name: Option<String>,
}

/// Everything the `forward` directive configures.
#[derive(Clone, Debug)]
pub(crate) struct ForwardConfig {
    /// The zone forwarded (FROM).
    pub from: Name,
    /// Names below FROM that are not forwarded (`except`).
    pub except: Vec<Name>,
    /// The upstreams (TO), in Corefile order, without repeats.
    pub upstreams: Vec<UpstreamAddr>,
    pub force_tcp: bool,
    pub prefer_udp: bool,
    /// How long an idle TCP connection is kept for reuse; zero disables reuse.
    pub expire: Duration,
    /// The most idle connections kept per upstream; zero means the built-in bound.
    pub max_idle_conns: usize,
    pub read_timeout: Duration,
    /// Consecutive failures before an upstream is down; zero: never down.
    pub max_fails: u32,
    /// Upstream attempts per query; `None`: twice the number of upstreams; zero: no cap.
    pub max_connect_attempts: Option<u32>,
    /// Interval between health checks of a failing upstream; zero disables them.
    pub health_check: Duration,
    /// Whether health checks set RD.
    pub health_check_rd: bool,
    /// The name health checks ask `NS` for.
    pub health_check_domain: Name,
    pub policy: Policy,
    /// In-flight queries beyond which REFUSED is answered; `None`: unlimited.
    pub max_concurrent: Option<usize>,
    /// Queries a second each upstream may be sent (`upstream_rate`); `None`: no limit.
    pub upstream_rate: Option<u32>,
    /// Rcodes on which the next upstream is tried.
    pub failover: Vec<ResponseCode>,
    /// Rcodes on which the query goes to the next plugin.
    pub next: Vec<ResponseCode>,
    /// Hand NODATA answers to the next plugin.
    pub next_on_nodata: bool,
    /// Answer SERVFAIL at once when every upstream is down.
    pub failfast: bool,
    /// The name checked in the certificate of `tls://` upstreams.
    pub tls_servername: Option<String>,
    /// The TLS client settings from the `tls` line; `None`: Mozilla's roots, no client
    /// certificate.
    pub tls_config: Option<Arc<ClientConfig>>,
}

impl ForwardConfig {
    /// Parses `forward FROM TO... { ... }`.
    pub fn parse(directive: &Directive, ctx: &SetupCtx) -> Result<Self, ConfigError> {
        directive.arg_count(2, usize::MAX)?;
        let from = parse_zone(&directive.args[0])?;
        let to = &directive.args[1..];
        if let Some(extra) = to.get(MAX_UPSTREAMS) {
            return Err(extra.error(format!(
                "forward: more than {MAX_UPSTREAMS} upstreams configured: {}",
                to.len()
            )));
        }
        let mut upstreams: Vec<UpstreamAddr> = Vec::new();
        for token in to {
            for upstream in parse_to(token, ctx)? {
                if !upstreams.contains(&upstream) {
                    upstreams.push(upstream);
                }
            }
            if upstreams.len() > MAX_UPSTREAMS {
                return Err(token.error(format!(
                    "forward: more than {MAX_UPSTREAMS} upstreams configured: {}",
                    upstreams.len()
                )));
            }
        }
        let mut config = Self {
            from,
            except: Vec::new(),
            upstreams,
            force_tcp: false,
            prefer_udp: false,
            expire: DEFAULT_EXPIRE,
            max_idle_conns: 0,
            read_timeout: DEFAULT_READ_TIMEOUT,
            max_fails: DEFAULT_MAX_FAILS,
            max_connect_attempts: None,
            health_check: DEFAULT_HEALTH_CHECK,
            health_check_rd: true,
            health_check_domain: Name::root(),
            policy: Policy::Random,
            max_concurrent: None,
            upstream_rate: None,
            failover: Vec::new(),
            next: Vec::new(),
            next_on_nodata: false,
            failfast: false,
            tls_servername: None,
            tls_config: None,
        };
        for line in directive.block_lines() {
            config.option(directive, line, ctx)?;
        }
        Ok(config)
    }

    /// Applies one line of the block.
    fn option(
        &mut self,
        directive: &Directive,
        line: &Directive,
        ctx: &SetupCtx,
    ) -> Result<(), ConfigError> {
        match line.name.text.as_str() {
            "except" => {
                line.check_args(1, usize::MAX)?;
                for token in &line.args {
                    self.except.push(parse_zone(token)?);
                }
            }
            "force_tcp" => {
                line.flag()?;
                self.force_tcp = true;
            }
            "prefer_udp" => {
                line.flag()?;
                self.prefer_udp = true;
            }
            "next_on_nodata" => {
                line.flag()?;
                self.next_on_nodata = true;
            }
            "failfast_all_unhealthy_upstreams" => {
                line.flag()?;
                self.failfast = true;
            }
            "expire" => self.expire = line.single()?.duration()?,
            "read_timeout" => {
                let token = line.single()?;
                self.read_timeout = token.duration()?;
                if self.read_timeout.is_zero() {
                    return Err(token.error("read_timeout: must be positive, got \"0\""));
                }
            }
            "max_idle_conns" => {
                self.max_idle_conns = line.single()?.parse("a number of connections")?;
            }
            "max_fails" => self.max_fails = line.single()?.parse("a number of failures")?,
            "max_connect_attempts" => {
                self.max_connect_attempts = Some(line.single()?.parse("a number of attempts")?);
            }
            "max_concurrent" => {
                let max: usize = line.single()?.parse("a number of queries")?;
                self.max_concurrent = (max > 0).then_some(max);
            }
            "upstream_rate" => {
                let rate: u32 = line.single()?.parse("a number of queries per second")?;
                self.upstream_rate = (rate > 0).then_some(rate);
            }
            "health_check" => self.health_check(line)?,
            "policy" => {
                let token = line.single()?;
                self.policy = Policy::parse(&token.text).ok_or_else(|| {
                    token.error(format!(
                        "policy: unknown policy {:?}, expected random, round_robin or sequential",
                        token.text
                    ))
                })?;
            }
            "failover" => {
                self.failover = rcodes(line)?;
                if let Some(i) = self
                    .failover
                    .iter()
                    .position(|r| *r == ResponseCode::NoError)
                {
                    return Err(line.args[i].error("failover: NOERROR cannot be used in failover"));
                }
            }
            "next" => self.next = rcodes(line)?,
            "tls_servername" => {
                let token = line.single()?;
                tls::server_name(&token.text)
                    .map_err(|e| token.error(format!("tls_servername: {e}")))?;
                if self.upstreams.iter().any(|u| u.server_name.is_some()) {
                    return Err(token.error(
                        "tls_servername: not allowed when an upstream names its own \
                         (tls://IP%NAME)",
                    ));
                }
                self.tls_servername = Some(token.text.clone());
            }
            "tls" => {
                line.check_args(0, 3)?;
                let paths: Vec<_> = line
                    .args
                    .iter()
                    .map(|t| ctx.resolve_path(&t.text))
                    .collect();
                let (client, ca) = match paths.as_slice() {
                    [] => (None, None),
                    [ca] => (None, Some(ca)),
                    [cert, key] => (Some((cert.as_path(), key.as_path())), None),
                    [cert, key, ca] => (Some((cert.as_path(), key.as_path())), Some(ca)),
                    _ => return Err(line.error("expected at most 3 files")),
                };
                let config = tls::client_config(ca.map(|p| p.as_path()), client)
                    .map_err(|e| line.name.error(format!("tls: {e}")))?;
                self.tls_config = Some(config);
            }
            "doh_method" | "source_address" | "resolver" | "max_age" => {
                return Err(line.name.error(format!(
                    "forward: option {:?} is not supported by clusterdns",
                    line.name.text
                )));
            }
            _ => return Err(directive.unknown_option(line)),
        }
        Ok(())
    }

    /// `health_check DURATION [no_rec] [domain FQDN]`.
    fn health_check(&mut self, line: &Directive) -> Result<(), ConfigError> {
        line.check_args(1, 4)?;
        self.health_check = line.args[0].duration()?;
        let mut rest = line.args[1..].iter();
        while let Some(token) = rest.next() {
            match token.text.as_str() {
                "no_rec" => self.health_check_rd = false,
                "domain" => {
                    let name = rest.next().ok_or_else(|| {
                        token.error("health_check: domain: expected a domain name after domain")
                    })?;
                    self.health_check_domain = parse_zone(name)?;
                }
                other => {
                    return Err(token.error(format!(
                        "health_check: unknown option {other:?}, expected no_rec or domain FQDN"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// One or more rcode names (`NXDOMAIN`, `servfail`, ...).
fn rcodes(line: &Directive) -> Result<Vec<ResponseCode>, ConfigError> {
    line.check_args(1, usize::MAX)?;
    line.args
        .iter()
        .map(|token| {
            rcode::parse(&token.text).ok_or_else(|| {
                token.error(format!(
                    "{}: {:?} is not a valid rcode, expected a name such as NXDOMAIN or SERVFAIL",
                    line.name.text, token.text
                ))
            })
        })
        .collect()
}

/// Reads one TO: `IP`, `IP:PORT`, `[IPv6]:PORT`, `dns://...`, `tls://...`, or a
/// resolv.conf-style file whose `nameserver` lines are the upstreams.
fn parse_to(token: &Token, ctx: &SetupCtx) -> Result<Vec<UpstreamAddr>, ConfigError> {
    let text = token.text.as_str();
    let (scheme, rest) = match text.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, text),
    };
    let tls = match scheme {
        None | Some("dns") => false,
        Some("tls") => true,
        Some("https") => {
            return Err(token.error(format!(
                "forward: https:// (DNS over HTTPS) upstreams are not supported, got {text:?}"
            )));
        }
        Some(other) => {
            return Err(token.error(format!(
                "forward: {other:?} is not supported as a destination protocol, \
                 expected dns:// or tls://, got {text:?}"
            )));
        }
    };
    let (rest, server_name) = if tls {
        split_server_name(rest)
    } else {
        (rest.to_owned(), None)
    };
    if let Some(name) = &server_name {
        tls::server_name(name).map_err(|e| token.error(format!("forward: {e}")))?;
    }
    let default_port = if tls { 853 } else { 53 };
    if let Some(addr) = ip_port(&rest, default_port) {
        if addr.port() == 0 {
            return Err(token.error(format!(
                "forward: upstream port must not be 0, got {text:?}"
            )));
        }
        return Ok(vec![UpstreamAddr {
            addr,
            tls,
            server_name,
        }]);
    }
    if scheme.is_some() || rest.is_empty() {
        return Err(token.error(format!(
            "forward: expected an upstream IP, IP:PORT or [IPv6]:PORT, got {text:?}"
        )));
    }
    let path = ctx.resolve_path(&rest);
    let servers = read_resolv_conf(&path)
        .map_err(|e| token.error(format!("forward: not an IP address or file {text:?}: {e}")))?;
    if servers.is_empty() {
        return Err(token.error(format!(
            "forward: no nameservers found in {:?}",
            path.display().to_string()
        )));
    }
    Ok(servers
        .into_iter()
        .map(|ip| UpstreamAddr {
            addr: SocketAddr::new(ip, 53),
            tls: false,
            server_name: None,
        })
        .collect())
}

/// Splits the TLS server name off `IP%NAME[:PORT]` or `[IPv6%NAME]:PORT`, as CoreDNS
/// does: `9.9.9.9%dns.quad9.net:853` is `9.9.9.9:853` with name `dns.quad9.net`.
fn split_server_name(text: &str) -> (String, Option<String>) {
    let Some((host, name)) = text.rsplit_once('%') else {
        return (text.to_owned(), None);
    };
    let (name, port) = match name.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (name, None),
    };
    let mut host = host.to_owned();
    if host.starts_with('[') {
        host.push(']');
    }
    if let Some(port) = port {
        host.push(':');
        host.push_str(port);
    }
    (host, Some(name.trim_end_matches(']').to_owned()))
}

/// `IP:PORT`, `[IPv6]:PORT`, or a bare IP (brackets allowed) with `default_port`. An
/// IPv6 zone (`%eth0`) is dropped, as CoreDNS does.
fn ip_port(text: &str, default_port: u16) -> Option<SocketAddr> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr);
    }
    // `[fe80::1%eth0]:53`, or an IPv4 address with a zone; an unbracketed IPv6 address
    // has no port.
    if let Some((host, port)) = text.rsplit_once(':')
        && let (Some(ip), Ok(port)) = (bare_ip(host), port.parse::<u16>())
        && (host.starts_with('[') || ip.is_ipv4())
    {
        return Some(SocketAddr::new(ip, port));
    }
    bare_ip(text).map(|ip| SocketAddr::new(ip, default_port))
}

/// An IP address, possibly in brackets and with an IPv6 zone.
fn bare_ip(text: &str) -> Option<IpAddr> {
    let text = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    let ip = text.split_once('%').map_or(text, |(ip, _zone)| ip);
    ip.parse().ok()
}

/// The `nameserver` addresses of a resolv.conf file, in file order.
fn read_resolv_conf(path: &Path) -> std::io::Result<Vec<IpAddr>> {
    let content = std::fs::read_to_string(path)?;
    Ok(content
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            if words.next() != Some("nameserver") {
                return None;
            }
            let word = words.next()?;
            let ip = bare_ip(word);
            if ip.is_none() {
                tracing::warn!(path = %path.display(), nameserver = word, "forward: ignoring a nameserver that is not an IP address");
            }
            ip
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusterdns_api::testing::{directive, setup_ctx};

    fn parse(text: &str) -> Result<ForwardConfig, ConfigError> {
        ForwardConfig::parse(&directive(text), &setup_ctx())
    }

    fn addr(text: &str) -> UpstreamAddr {
        UpstreamAddr {
            addr: text.parse().unwrap(),
            tls: false,
            server_name: None,
        }
    }

    fn tls(text: &str, name: Option<&str>) -> UpstreamAddr {
        UpstreamAddr {
            addr: text.parse().unwrap(),
            tls: true,
            server_name: name.map(str::to_owned),
        }
    }

    #[test]
    fn defaults() {
        let config = parse("forward . 10.0.0.1").unwrap();
        assert_eq!(config.from, Name::root());
        assert_eq!(config.upstreams, [addr("10.0.0.1:53")]);
        assert!(config.except.is_empty());
        assert!(!config.force_tcp && !config.prefer_udp);
        assert_eq!(config.expire, Duration::from_secs(10));
        assert_eq!(config.read_timeout, Duration::from_secs(2));
        assert_eq!(config.max_fails, 2);
        assert_eq!(config.max_connect_attempts, None);
        assert_eq!(config.health_check, Duration::from_millis(500));
        assert!(config.health_check_rd);
        assert_eq!(config.health_check_domain, Name::root());
        assert_eq!(config.policy, Policy::Random);
        assert_eq!(config.max_concurrent, None);
        assert!(config.failover.is_empty() && config.next.is_empty());
        assert!(!config.failfast && !config.next_on_nodata);
    }

    #[test]
    fn reads_every_address_form() {
        let config = parse(
            "forward Example.ORG 10.0.0.1 10.0.0.2:5353 [::1]:53 fd00::1 dns://10.0.0.3 \
             dns://10.0.0.4:1053 [fd00::2] 10.0.0.1:53",
        )
        .unwrap();
        assert_eq!(config.from, Name::from_ascii("example.org.").unwrap());
        assert_eq!(
            config.upstreams,
            [
                addr("10.0.0.1:53"),
                addr("10.0.0.2:5353"),
                addr("[::1]:53"),
                addr("[fd00::1]:53"),
                addr("10.0.0.3:53"),
                addr("10.0.0.4:1053"),
                addr("[fd00::2]:53"),
            ],
            "repeats are dropped"
        );
    }

    #[test]
    fn reads_every_option() {
        let config = parse(
            "forward . 10.0.0.1 {\n\
             except Example.com internal.\n\
             force_tcp\n\
             prefer_udp\n\
             expire 30s\n\
             max_idle_conns 5\n\
             read_timeout 1500ms\n\
             max_fails 3\n\
             max_connect_attempts 4\n\
             health_check 1s no_rec domain Example.NET\n\
             policy round_robin\n\
             max_concurrent 1000\n\
             upstream_rate 900\n\
             failover servfail REFUSED\n\
             next NXDOMAIN\n\
             next_on_nodata\n\
             failfast_all_unhealthy_upstreams\n\
             tls_servername dns.example\n\
             }",
        )
        .unwrap();
        assert_eq!(
            config.except,
            [
                Name::from_ascii("example.com.").unwrap(),
                Name::from_ascii("internal.").unwrap()
            ]
        );
        assert!(config.force_tcp && config.prefer_udp);
        assert_eq!(config.expire, Duration::from_secs(30));
        assert_eq!(config.max_idle_conns, 5);
        assert_eq!(config.read_timeout, Duration::from_millis(1500));
        assert_eq!(config.max_fails, 3);
        assert_eq!(config.max_connect_attempts, Some(4));
        assert_eq!(config.health_check, Duration::from_secs(1));
        assert!(!config.health_check_rd);
        assert_eq!(
            config.health_check_domain,
            Name::from_ascii("example.net.").unwrap()
        );
        assert_eq!(config.policy, Policy::RoundRobin);
        assert_eq!(config.max_concurrent, Some(1000));
        assert_eq!(config.upstream_rate, Some(900));
        assert_eq!(
            config.failover,
            [ResponseCode::ServFail, ResponseCode::Refused]
        );
        assert_eq!(config.next, [ResponseCode::NXDomain]);
        assert!(config.next_on_nodata && config.failfast);
        assert_eq!(config.tls_servername.as_deref(), Some("dns.example"));

        let config = parse("forward . 10.0.0.1 {\nmax_concurrent 0\npolicy sequential\n}").unwrap();
        assert_eq!(config.max_concurrent, None, "0 means unlimited");
        assert_eq!(config.upstream_rate, None);
        assert_eq!(config.policy, Policy::Sequential);
    }

    #[test]
    fn reads_tls_upstreams() {
        let config = parse(
            "forward . tls://9.9.9.9 tls://9.9.9.9:10853 tls://1.1.1.1%one.one.one.one \
             tls://1.0.0.1%one.one.one.one:8853 tls://[2620:fe::fe%dns.quad9.net]:853 \
             tls://[2620:fe::9] dns://10.0.0.1",
        )
        .unwrap();
        assert_eq!(
            config.upstreams,
            [
                tls("9.9.9.9:853", None),
                tls("9.9.9.9:10853", None),
                tls("1.1.1.1:853", Some("one.one.one.one")),
                tls("1.0.0.1:8853", Some("one.one.one.one")),
                tls("[2620:fe::fe]:853", Some("dns.quad9.net")),
                tls("[2620:fe::9]:853", None),
                addr("10.0.0.1:53"),
            ]
        );
        assert!(config.tls_config.is_none());
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        let text = format!(
            "forward . tls://127.0.0.1 {{\ntls_servername dns.example\ntls {dir}/client.pem \
             {dir}/client.key {dir}/ca.pem\n}}",
            dir = data.display()
        );
        let config = parse(&text).unwrap();
        assert_eq!(config.tls_servername.as_deref(), Some("dns.example"));
        assert!(config.tls_config.is_some());
    }

    #[test]
    fn reads_nameservers_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("resolv.conf"),
            "# comment\nsearch example.org\nnameserver 10.0.0.53\nnameserver fe80::1%eth0\n\
             nameserver not-an-ip\noptions ndots:5\nnameserver 10.0.0.53\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("empty.conf"), "search example.org\n").unwrap();
        let mut ctx = setup_ctx();
        ctx.base_dir = dir.path().to_owned();
        let config =
            ForwardConfig::parse(&directive("forward . resolv.conf 10.0.0.1"), &ctx).unwrap();
        assert_eq!(
            config.upstreams,
            [
                addr("10.0.0.53:53"),
                addr("[fe80::1]:53"),
                addr("10.0.0.1:53")
            ]
        );
        let absolute = dir.path().join("resolv.conf");
        let text = format!("forward . {}", absolute.display());
        let config = ForwardConfig::parse(&directive(&text), &setup_ctx()).unwrap();
        assert_eq!(config.upstreams.len(), 2);

        let err = ForwardConfig::parse(&directive("forward . empty.conf"), &ctx).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Corefile:1:11: forward: no nameservers found in"),
            "{err}"
        );
    }

    #[test]
    fn errors_name_their_position_and_what_was_expected() {
        let sixteen: String = (1..=16).map(|i| format!(" 10.0.0.{i}")).collect();
        let too_many = format!("forward .{sixteen}");
        let cases: Vec<(&str, &str)> = vec![
            (
                "forward",
                "Corefile:1:1: forward: wrong argument count: expected at least 2, got 0",
            ),
            (
                "forward .",
                "Corefile:1:9: forward: wrong argument count: expected at least 2, got 1",
            ),
            (
                &too_many,
                "Corefile:1:152: forward: more than 15 upstreams configured: 16",
            ),
            (
                "forward . /nonexistent/resolv.conf",
                "Corefile:1:11: forward: not an IP address or file \"/nonexistent/resolv.conf\": \
                 No such file or directory (os error 2)",
            ),
            (
                "forward . dns://resolver.example",
                "Corefile:1:11: forward: expected an upstream IP, IP:PORT or [IPv6]:PORT, \
                 got \"dns://resolver.example\"",
            ),
            (
                "forward . https://9.9.9.9",
                "Corefile:1:11: forward: https:// (DNS over HTTPS) upstreams are not supported, \
                 got \"https://9.9.9.9\"",
            ),
            (
                "forward . grpc://9.9.9.9",
                "Corefile:1:11: forward: \"grpc\" is not supported as a destination protocol, \
                 expected dns:// or tls://, got \"grpc://9.9.9.9\"",
            ),
            (
                "forward . tls://9.9.9.9%",
                "Corefile:1:11: forward: \"\" is not a valid TLS server name",
            ),
            (
                "forward . tls://9.9.9.9%dns.quad9.net {\ntls_servername dns.example\n}",
                "Corefile:2:16: tls_servername: not allowed when an upstream names its own \
                 (tls://IP%NAME)",
            ),
            (
                "forward . tls://9.9.9.9 {\ntls /nonexistent/ca.pem\n}",
                "Corefile:2:1: tls: cannot read certificates from /nonexistent/ca.pem",
            ),
            (
                "forward . tls://9.9.9.9 {\ntls a b c d\n}",
                "Corefile:2:11: tls: wrong argument count: expected at most 3, got 4",
            ),
            (
                "forward . 10.0.0.1:0",
                "Corefile:1:11: forward: upstream port must not be 0, got \"10.0.0.1:0\"",
            ),
            (
                "forward . 10.0.0.1 {\n  policy fastest\n}",
                "Corefile:2:10: policy: unknown policy \"fastest\", expected random, \
                 round_robin or sequential",
            ),
            (
                "forward . 10.0.0.1 {\nmax_fails -1\n}",
                "Corefile:2:11: expected a number of failures, got \"-1\"",
            ),
            (
                "forward . 10.0.0.1 {\nmax_concurrent lots\n}",
                "Corefile:2:16: expected a number of queries, got \"lots\"",
            ),
            (
                "forward . 10.0.0.1 {\nexpire 10\n}",
                "Corefile:2:8: expected a duration such as 5s or 1m30s, got \"10\"",
            ),
            (
                "forward . 10.0.0.1 {\nread_timeout 0\n}",
                "Corefile:2:14: read_timeout: must be positive, got \"0\"",
            ),
            (
                "forward . 10.0.0.1 {\nhealth_check 1s often\n}",
                "Corefile:2:17: health_check: unknown option \"often\", expected no_rec or domain FQDN",
            ),
            (
                "forward . 10.0.0.1 {\nhealth_check 1s domain\n}",
                "Corefile:2:17: health_check: domain: expected a domain name after domain",
            ),
            (
                "forward . 10.0.0.1 {\nfailover SERVFAIL NOERROR\n}",
                "Corefile:2:19: failover: NOERROR cannot be used in failover",
            ),
            (
                "forward . 10.0.0.1 {\nnext NXDOMAN\n}",
                "Corefile:2:6: next: \"NXDOMAN\" is not a valid rcode, expected a name such as \
                 NXDOMAIN or SERVFAIL",
            ),
            (
                "forward . 10.0.0.1 {\nfailover\n}",
                "Corefile:2:1: failover: wrong argument count: expected at least 1, got 0",
            ),
            (
                "forward . 10.0.0.1 {\nforce_tcp yes\n}",
                "Corefile:2:11: force_tcp: wrong argument count: expected 0, got 1 (unexpected \"yes\")",
            ),
            (
                "forward . 10.0.0.1 {\nexcept\n}",
                "Corefile:2:1: except: wrong argument count: expected at least 1, got 0",
            ),
            (
                "forward . 10.0.0.1 {\n  bogus 1\n}",
                "Corefile:2:3: forward: unknown property \"bogus\"",
            ),
            (
                "forward . 10.0.0.1 {\n  resolver 10.0.0.53\n}",
                "Corefile:2:3: forward: option \"resolver\" is not supported by clusterdns",
            ),
            (
                "forward example..org 10.0.0.1",
                "Corefile:1:9: expected a zone name, got \"example..org\"",
            ),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(
                err.starts_with(expected),
                "{text:?}:\n  got  {err}\n  want {expected}"
            );
        }
    }
}
