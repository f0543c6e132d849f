//! node-cache's Corefile template: the `__PILLAR__` variables it fills in at start.
//!
//! NodeLocal DNSCache's manifest leaves two variables for node-cache to fill:
//! `__PILLAR__CLUSTER__DNS__` (the cluster IP of the `-upstreamsvc` Service, read from
//! the `<NAME>_SERVICE_HOST` variable Kubernetes puts in every pod's environment) and
//! `__PILLAR__UPSTREAM__SERVERS__` (`/etc/resolv.conf`: the node's resolvers, as
//! node-cache uses without the kube-dns ConfigMap's `upstreamNameservers`). It also
//! replaces `__PILLAR__LOCAL__DNS__` with the `-localip` addresses and removes
//! `__PILLAR__DNS__SERVER__` (both normally filled in by the operator's `sed`). The
//! rendered text is written where `-conf` points, as node-cache writes `/etc/Corefile`.

use std::net::IpAddr;

pub const CLUSTER_DNS: &str = "__PILLAR__CLUSTER__DNS__";
pub const UPSTREAM_SERVERS: &str = "__PILLAR__UPSTREAM__SERVERS__";
pub const LOCAL_DNS: &str = "__PILLAR__LOCAL__DNS__";
pub const DNS_SERVER: &str = "__PILLAR__DNS__SERVER__";

/// The template could not be filled in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error(
        "the template uses {CLUSTER_DNS} but ${variable} is not set (is the Service {service} missing?)"
    )]
    NoUpstreamService { variable: String, service: String },
    #[error("${variable} is {value:?}, not an IP address")]
    BadUpstreamAddress { variable: String, value: String },
}

/// The environment variable Kubernetes sets to a Service's cluster IP:
/// `kube-dns-upstream` -> `KUBE_DNS_UPSTREAM_SERVICE_HOST`.
pub fn service_host_variable(service: &str) -> String {
    format!("{}_SERVICE_HOST", service.replace('-', "_").to_uppercase())
}

/// Fills in `template`. `lookup` reads an environment variable (`std::env::var` in the
/// server; a map in tests).
pub fn render(
    template: &str,
    local_ips: &[IpAddr],
    upstream_service: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, TemplateError> {
    let mut text = template.to_owned();
    if text.contains(CLUSTER_DNS) {
        let variable = service_host_variable(upstream_service);
        let value = lookup(&variable).ok_or_else(|| TemplateError::NoUpstreamService {
            variable: variable.clone(),
            service: upstream_service.to_owned(),
        })?;
        let address: IpAddr =
            value
                .trim()
                .parse()
                .map_err(|_| TemplateError::BadUpstreamAddress {
                    variable,
                    value: value.clone(),
                })?;
        text = text.replace(CLUSTER_DNS, &address.to_string());
    }
    let local = local_ips
        .iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    Ok(text
        .replace(UPSTREAM_SERVERS, "/etc/resolv.conf")
        .replace(LOCAL_DNS, &local)
        .replace(DNS_SERVER, ""))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const TEMPLATE: &str = "cluster.local:53 {
    bind __PILLAR__LOCAL__DNS__ __PILLAR__DNS__SERVER__
    forward . __PILLAR__CLUSTER__DNS__ {
            force_tcp
    }
}
.:53 {
    bind __PILLAR__LOCAL__DNS__ __PILLAR__DNS__SERVER__
    forward . __PILLAR__UPSTREAM__SERVERS__
}
";

    #[test]
    fn fills_in_what_node_cache_fills_in() {
        let ips = [
            "169.254.20.10".parse().unwrap(),
            "10.96.0.10".parse().unwrap(),
        ];
        let text = render(TEMPLATE, &ips, "kube-dns-upstream", |name| {
            (name == "KUBE_DNS_UPSTREAM_SERVICE_HOST").then(|| "10.96.0.11".to_owned())
        })
        .unwrap();
        assert!(!text.contains("__PILLAR__"), "{text}");
        assert!(text.contains("bind 169.254.20.10 10.96.0.10 \n"), "{text}");
        assert!(text.contains("forward . 10.96.0.11 {"), "{text}");
        assert!(text.contains("forward . /etc/resolv.conf\n"), "{text}");
    }

    #[test]
    fn a_missing_or_bad_service_address_is_an_error() {
        let ips = ["169.254.20.10".parse().unwrap()];
        assert_eq!(
            render(TEMPLATE, &ips, "kube-dns-upstream", |_| None),
            Err(TemplateError::NoUpstreamService {
                variable: "KUBE_DNS_UPSTREAM_SERVICE_HOST".into(),
                service: "kube-dns-upstream".into()
            })
        );
        assert!(matches!(
            render(TEMPLATE, &ips, "kube-dns", |_| Some("none".into())),
            Err(TemplateError::BadUpstreamAddress { .. })
        ));
        // A Corefile without the variable needs no Service.
        assert_eq!(
            render("x {}\n", &ips, "kube-dns", |_| None).unwrap(),
            "x {}\n"
        );
    }
}
