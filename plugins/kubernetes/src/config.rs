//! Reading the `kubernetes` directive.

use std::path::PathBuf;
use std::time::Duration;

use clusterdns_api::zone::{is_reverse_zone, parse_zone_or_cidr};
use clusterdns_api::{ConfigError, Directive, Fallthrough, SetupCtx, Token};
use hickory_proto::rr::Name;

use crate::selector::Selector;

/// CoreDNS's default TTL of cluster answers.
pub const DEFAULT_TTL: u32 = 5;
/// The largest TTL the `ttl` option accepts.
pub const MAX_TTL: u32 = 3600;
/// How long to wait for the first full sync before answering from what is there.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Which pod records (`1-2-3-4.ns.pod.zone`) are served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodMode {
    /// None: every pod name is NXDOMAIN.
    Disabled,
    /// Any well-formed address in an existing namespace.
    Insecure,
    /// Only addresses of pods in that namespace.
    Verified,
}

/// Settings of the API source (used once it is built in; parsed and checked now).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApiOptions {
    /// `endpoint URL`: the API server; in-cluster configuration when absent.
    pub endpoint: Option<String>,
    /// `tls CERT KEY CACERT`.
    pub tls: Option<(PathBuf, PathBuf, PathBuf)>,
    /// `kubeconfig FILE [CONTEXT]`.
    pub kubeconfig: Option<(PathBuf, Option<String>)>,
    /// `apiserver_qps`.
    pub qps: Option<f64>,
    /// `apiserver_burst`.
    pub burst: Option<u32>,
    /// `apiserver_max_inflight`.
    pub max_inflight: Option<u32>,
    /// The first of `endpoint`, `tls` or `kubeconfig`, for errors about combining them
    /// with `manifests`.
    pub(crate) first_token: Option<Token>,
}

/// Everything the `kubernetes` directive configures.
#[derive(Clone, Debug)]
pub struct Config {
    /// The zones served, lower case, forward and reverse.
    pub zones: Vec<Name>,
    /// The first forward zone: PTR targets are written in it.
    pub primary: Name,
    /// How to reach the API server.
    pub api: ApiOptions,
    /// `namespaces`: only these are exposed (lower case); empty exposes all.
    pub namespaces: Vec<String>,
    /// `namespace_labels`: only namespaces with matching labels are exposed.
    pub namespace_labels: Option<Selector>,
    /// `labels`: only services, slices and pods with matching labels are seen.
    pub labels: Option<Selector>,
    /// `pods`.
    pub pods: PodMode,
    /// `endpoint_pod_names`.
    pub endpoint_pod_names: bool,
    /// `ttl`.
    pub ttl: u32,
    /// `noendpoints`.
    pub noendpoints: bool,
    /// `fallthrough`.
    pub fallthrough: Fallthrough,
    /// `ignore empty_service`.
    pub ignore_empty_service: bool,
    /// `startup_timeout`.
    pub startup_timeout: Duration,
    /// `manifests PATH...`, resolved against the Corefile's directory.
    pub manifests: Vec<PathBuf>,
    /// The `manifests` line's path tokens, for errors about them.
    pub manifest_tokens: Vec<Token>,
}

fn error(token: &Token, message: impl std::fmt::Display) -> ConfigError {
    token.error(format!("kubernetes: {message}"))
}

/// Prefixes the plugin's name to an error from a shared helper, as this plugin's own
/// errors read.
fn in_plugin(mut error: ConfigError) -> ConfigError {
    error.message = format!("kubernetes: {}", error.message);
    error
}

/// The single argument of an option line, parsed as a `T`, or an error saying that
/// `what` was expected.
fn number<T: std::str::FromStr>(line: &Directive, what: &str) -> Result<T, ConfigError> {
    let token = line.single().map_err(in_plugin)?;
    token.text.parse().map_err(|_| option_error(line, what))
}

/// "kubernetes: OPTION: expected WHAT, got ARG", at the option's argument.
fn option_error(line: &Directive, what: &str) -> ConfigError {
    let token = line.args.first().unwrap_or(&line.name);
    error(
        token,
        format!("{}: expected {what}, got {:?}", line.name.text, token.text),
    )
}

impl Config {
    /// Parses `kubernetes [ZONES...] { ... }`.
    pub fn parse(directive: &Directive, ctx: &SetupCtx) -> Result<Self, ConfigError> {
        let mut zones = Vec::new();
        for token in &directive.args {
            for zone in parse_zone_or_cidr(token).map_err(in_plugin)? {
                if !zones.contains(&zone) {
                    zones.push(zone);
                }
            }
        }
        if zones.is_empty() {
            zones.clone_from(&ctx.zones);
        }
        let Some(primary) = zones.iter().find(|z| !is_reverse_zone(z)).cloned() else {
            return Err(error(
                directive.args.first().unwrap_or(&directive.name),
                "at least one zone must be a forward zone (not in-addr.arpa or ip6.arpa)",
            ));
        };
        let mut config = Self {
            zones,
            primary,
            api: ApiOptions::default(),
            namespaces: Vec::new(),
            namespace_labels: None,
            labels: None,
            pods: PodMode::Disabled,
            endpoint_pod_names: false,
            ttl: DEFAULT_TTL,
            noendpoints: false,
            fallthrough: Fallthrough::default(),
            ignore_empty_service: false,
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            manifests: Vec::new(),
            manifest_tokens: Vec::new(),
        };
        for line in directive.block_lines() {
            config.option(line, ctx)?;
        }
        if let Some(path) = config
            .manifest_tokens
            .first()
            .filter(|_| config.api.first_token.is_some())
        {
            return Err(error(
                path,
                "manifests cannot be combined with endpoint, tls or kubeconfig",
            ));
        }
        Ok(config)
    }

    /// Applies one line of the block.
    fn option(&mut self, line: &Directive, ctx: &SetupCtx) -> Result<(), ConfigError> {
        let name = line.name.text.as_str();
        match name {
            "endpoint" => {
                line.check_args(1, usize::MAX).map_err(in_plugin)?;
                let url = &line.args[0];
                if !(url.text.starts_with("http://") || url.text.starts_with("https://"))
                    || url.text.len() <= "https://".len()
                {
                    return Err(error(
                        url,
                        format!(
                            "endpoint: expected an http:// or https:// URL, got {:?}",
                            url.text
                        ),
                    ));
                }
                if line.args.len() > 1 {
                    tracing::warn!(
                        "kubernetes: endpoint: only the first of several endpoints is used"
                    );
                }
                self.api.endpoint = Some(url.text.clone());
                self.api
                    .first_token
                    .get_or_insert_with(|| line.name.clone());
            }
            "tls" => {
                line.check_args(3, 3).map_err(in_plugin)?;
                let path = |i: usize| ctx.resolve_path(&line.args[i].text);
                self.api.tls = Some((path(0), path(1), path(2)));
                self.api
                    .first_token
                    .get_or_insert_with(|| line.name.clone());
            }
            "kubeconfig" => {
                line.check_args(1, 2).map_err(in_plugin)?;
                self.api.kubeconfig = Some((
                    ctx.resolve_path(&line.args[0].text),
                    line.args.get(1).map(|t| t.text.clone()),
                ));
                self.api
                    .first_token
                    .get_or_insert_with(|| line.name.clone());
            }
            "apiserver_qps" => {
                let qps: f64 = number(line, "a number of at least 0")?;
                if !(qps.is_finite() && qps >= 0.0) {
                    return Err(option_error(line, "a number of at least 0"));
                }
                self.api.qps = Some(qps);
            }
            "apiserver_burst" => {
                self.api.burst = Some(number(line, "a whole number of at least 0")?);
            }
            "apiserver_max_inflight" => {
                self.api.max_inflight = Some(number(line, "a whole number of at least 0")?);
            }
            "namespaces" => {
                line.check_args(1, usize::MAX).map_err(in_plugin)?;
                if self.namespace_labels.is_some() {
                    return Err(error(
                        &line.name,
                        "namespaces and namespace_labels cannot be used together",
                    ));
                }
                for token in &line.args {
                    let ns = token.text.to_ascii_lowercase();
                    if !self.namespaces.contains(&ns) {
                        self.namespaces.push(ns);
                    }
                }
            }
            "namespace_labels" | "labels" => {
                line.check_args(1, usize::MAX).map_err(in_plugin)?;
                if name == "namespace_labels" && !self.namespaces.is_empty() {
                    return Err(error(
                        &line.name,
                        "namespaces and namespace_labels cannot be used together",
                    ));
                }
                let text = line
                    .args
                    .iter()
                    .map(|t| t.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                let selector = Selector::parse(&text).map_err(|e| {
                    error(
                        &line.args[0],
                        format!("{name}: invalid label selector {text:?}: {e}"),
                    )
                })?;
                if name == "labels" {
                    self.labels = Some(selector);
                } else {
                    self.namespace_labels = Some(selector);
                }
            }
            "pods" => {
                line.check_args(1, 1).map_err(in_plugin)?;
                let token = &line.args[0];
                self.pods = match token.text.as_str() {
                    "disabled" => PodMode::Disabled,
                    "insecure" => PodMode::Insecure,
                    "verified" => PodMode::Verified,
                    other => {
                        return Err(error(
                            token,
                            format!("pods: expected disabled, insecure or verified, got {other:?}"),
                        ));
                    }
                };
            }
            "endpoint_pod_names" => {
                line.check_args(0, 0).map_err(in_plugin)?;
                self.endpoint_pod_names = true;
            }
            "noendpoints" => {
                line.check_args(0, 0).map_err(in_plugin)?;
                self.noendpoints = true;
            }
            "ttl" => {
                let what = format!("seconds from 0 to {MAX_TTL}");
                self.ttl = number(line, &what)?;
                if self.ttl > MAX_TTL {
                    return Err(option_error(line, &what));
                }
            }
            "fallthrough" => {
                self.fallthrough = Fallthrough::parse(line).map_err(|mut e| {
                    e.message = format!("kubernetes: fallthrough: {}", e.message);
                    e
                })?;
            }
            "ignore" => {
                line.check_args(1, 1).map_err(in_plugin)?;
                let token = &line.args[0];
                if token.text != "empty_service" {
                    return Err(error(
                        token,
                        format!("ignore: expected empty_service, got {:?}", token.text),
                    ));
                }
                self.ignore_empty_service = true;
            }
            "startup_timeout" => {
                let token = line.single().map_err(in_plugin)?;
                self.startup_timeout = clusterdns_api::parse_duration(&token.text)
                    .ok_or_else(|| option_error(line, "a duration such as 5s or 1m"))?;
            }
            "manifests" => {
                line.check_args(1, usize::MAX).map_err(in_plugin)?;
                for token in &line.args {
                    let path = ctx.resolve_path(&token.text);
                    if let Err(e) = std::fs::metadata(&path) {
                        return Err(error(
                            token,
                            format!("manifests: cannot read {}: {e}", path.display()),
                        ));
                    }
                    self.manifests.push(path);
                    self.manifest_tokens.push(token.clone());
                }
            }
            "upstream" => {
                // Accepted and ignored by CoreDNS since 1.7: the upstream is the server itself.
                tracing::warn!("kubernetes: the upstream option is obsolete and ignored");
            }
            "multicluster" | "zonal" => {
                return Err(error(
                    &line.name,
                    format!("{name} is not supported by this build"),
                ));
            }
            _ => {
                return Err(error(
                    &line.name,
                    format!("unknown property {:?}", line.name.text),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusterdns_api::testing::directive;

    fn ctx() -> SetupCtx {
        let mut ctx = clusterdns_api::testing::setup_ctx();
        ctx.zones = vec![Name::from_ascii("cluster.local.").unwrap()];
        ctx.base_dir = std::env::temp_dir();
        ctx
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(&directive(text), &ctx())
    }

    fn names(zones: &[Name]) -> Vec<String> {
        zones.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn defaults_follow_coredns() {
        let config = parse("kubernetes").unwrap();
        assert_eq!(names(&config.zones), ["cluster.local."]);
        assert_eq!(config.primary.to_string(), "cluster.local.");
        assert_eq!(config.ttl, 5);
        assert_eq!(config.pods, PodMode::Disabled);
        assert_eq!(config.startup_timeout, Duration::from_secs(5));
        assert!(!config.endpoint_pod_names && !config.noendpoints && !config.ignore_empty_service);
        assert!(config.manifests.is_empty());
        assert_eq!(config.fallthrough, Fallthrough::default());
    }

    #[test]
    fn reads_the_kubeadm_block_and_every_option() {
        let dir = std::env::temp_dir();
        let manifest = dir.join(format!("clusterdns-k8s-config-{}.yaml", std::process::id()));
        std::fs::write(&manifest, "").unwrap();
        let text = format!(
            "kubernetes cluster.local in-addr.arpa ip6.arpa 10.96.0.0/12 {{\n\
             pods insecure\n\
             fallthrough in-addr.arpa ip6.arpa\n\
             ttl 30\n\
             namespaces Default kube-system\n\
             labels app in (web, db)\n\
             endpoint_pod_names\n\
             noendpoints\n\
             ignore empty_service\n\
             startup_timeout 1m30s\n\
             apiserver_qps 20.5\n\
             apiserver_burst 40\n\
             apiserver_max_inflight 10\n\
             manifests {}\n\
             }}",
            manifest.display()
        );
        let config = parse(&text).unwrap();
        std::fs::remove_file(&manifest).unwrap();
        assert_eq!(config.zones.len(), 3 + 16);
        assert_eq!(
            names(&config.zones[3..5]),
            ["96.10.in-addr.arpa.", "97.10.in-addr.arpa."]
        );
        assert_eq!(config.pods, PodMode::Insecure);
        assert_eq!(config.ttl, 30);
        assert_eq!(config.namespaces, ["default", "kube-system"]);
        assert_eq!(config.labels.as_ref().unwrap().as_str(), "app in (web, db)");
        assert!(config.endpoint_pod_names && config.noendpoints && config.ignore_empty_service);
        assert_eq!(config.startup_timeout, Duration::from_secs(90));
        assert_eq!(config.api.qps, Some(20.5));
        assert_eq!(config.api.burst, Some(40));
        assert_eq!(config.api.max_inflight, Some(10));
        assert_eq!(config.manifests, [manifest]);
        assert!(
            config
                .fallthrough
                .through(&Name::from_ascii("1.0.0.10.in-addr.arpa.").unwrap())
        );
        assert!(
            !config
                .fallthrough
                .through(&Name::from_ascii("x.cluster.local.").unwrap())
        );
    }

    #[test]
    fn reads_api_options() {
        let config = parse(
            "kubernetes {\n\
             endpoint https://10.0.0.1:6443\n\
             tls cert.pem key.pem ca.pem\n\
             namespace_labels env=prod\n\
             }",
        )
        .unwrap();
        assert_eq!(
            config.api.endpoint.as_deref(),
            Some("https://10.0.0.1:6443")
        );
        let (cert, _, ca) = config.api.tls.unwrap();
        assert_eq!(cert, std::env::temp_dir().join("cert.pem"));
        assert_eq!(ca, std::env::temp_dir().join("ca.pem"));
        assert!(config.namespace_labels.is_some());
        let config = parse("kubernetes {\nkubeconfig kube.conf dev\n}").unwrap();
        let (file, context) = config.api.kubeconfig.unwrap();
        assert_eq!(file, std::env::temp_dir().join("kube.conf"));
        assert_eq!(context.as_deref(), Some("dev"));
    }

    #[test]
    fn reports_malformed_options_where_they_are() {
        let cases: &[(&str, &str)] = &[
            (
                "kubernetes {\nttl 3601\n}",
                "Corefile:2:5: kubernetes: ttl: expected seconds from 0 to 3600, got \"3601\"",
            ),
            (
                "kubernetes {\nttl -1\n}",
                "Corefile:2:5: kubernetes: ttl: expected seconds from 0 to 3600, got \"-1\"",
            ),
            (
                "kubernetes {\nttl\n}",
                "Corefile:2:1: kubernetes: ttl: wrong argument count: expected 1, got 0",
            ),
            (
                "kubernetes {\nttl 5 6\n}",
                "Corefile:2:7: kubernetes: ttl: wrong argument count: expected 1, got 2 (unexpected \"6\")",
            ),
            (
                "kubernetes {\npods bogus\n}",
                "Corefile:2:6: kubernetes: pods: expected disabled, insecure or verified, got \"bogus\"",
            ),
            (
                "kubernetes {\nnamespaces a\nnamespace_labels x=y\n}",
                "Corefile:3:1: kubernetes: namespaces and namespace_labels cannot be used together",
            ),
            (
                "kubernetes {\nnamespace_labels x=y\nnamespaces a\n}",
                "Corefile:3:1: kubernetes: namespaces and namespace_labels cannot be used together",
            ),
            (
                "kubernetes {\nignore empty_services\n}",
                "Corefile:2:8: kubernetes: ignore: expected empty_service, got \"empty_services\"",
            ),
            (
                "kubernetes {\nfoo bar\n}",
                "Corefile:2:1: kubernetes: unknown property \"foo\"",
            ),
            (
                "kubernetes {\nstartup_timeout soon\n}",
                "Corefile:2:17: kubernetes: startup_timeout: expected a duration such as 5s or 1m, got \"soon\"",
            ),
            (
                "kubernetes {\ntls a b\n}",
                "Corefile:2:7: kubernetes: tls: wrong argument count: expected 3, got 2",
            ),
            (
                "kubernetes {\nkubeconfig a b c\n}",
                "Corefile:2:16: kubernetes: kubeconfig: wrong argument count: expected at most 2, got 3 (unexpected \"c\")",
            ),
            (
                "kubernetes {\nendpoint 10.0.0.1:6443\n}",
                "Corefile:2:10: kubernetes: endpoint: expected an http:// or https:// URL, got \"10.0.0.1:6443\"",
            ),
            (
                "kubernetes {\nlabels app in web\n}",
                "Corefile:2:8: kubernetes: labels: invalid label selector \"app in web\": expected a list of values in parentheses after \"in\"",
            ),
            (
                "kubernetes {\napiserver_qps fast\n}",
                "Corefile:2:15: kubernetes: apiserver_qps: expected a number of at least 0, got \"fast\"",
            ),
            (
                "kubernetes {\nendpoint_pod_names yes\n}",
                "Corefile:2:20: kubernetes: endpoint_pod_names: wrong argument count: expected 0, got 1 (unexpected \"yes\")",
            ),
            (
                "kubernetes {\nzonal\n}",
                "Corefile:2:1: kubernetes: zonal is not supported by this build",
            ),
            (
                "kubernetes {\nmanifests /nonexistent/cluster.yaml\n}",
                "Corefile:2:11: kubernetes: manifests: cannot read /nonexistent/cluster.yaml: No such file or directory (os error 2)",
            ),
            (
                "kubernetes in-addr.arpa 10.0.0.0/8",
                "Corefile:1:12: kubernetes: at least one zone must be a forward zone (not in-addr.arpa or ip6.arpa)",
            ),
            (
                "kubernetes cluster.local 10.0.0.0/33",
                "Corefile:1:26: kubernetes: expected a zone name or a CIDR such as 10.96.0.0/12, got \"10.0.0.0/33\"",
            ),
        ];
        for (text, expected) in cases {
            let err = parse(text).expect_err(text);
            assert_eq!(err.to_string(), *expected, "{text}");
        }
    }

    #[test]
    fn manifests_exclude_the_api_options() {
        let dir = std::env::temp_dir();
        let manifest = dir.join(format!("clusterdns-k8s-excl-{}.yaml", std::process::id()));
        std::fs::write(&manifest, "").unwrap();
        let text = format!(
            "kubernetes {{\nendpoint https://k8s:6443\nmanifests {}\n}}",
            manifest.display()
        );
        let err = parse(&text).unwrap_err();
        std::fs::remove_file(&manifest).unwrap();
        assert_eq!(
            err.message,
            "kubernetes: manifests cannot be combined with endpoint, tls or kubeconfig"
        );
        assert_eq!((err.line, err.column), (3, 11));
    }
}
