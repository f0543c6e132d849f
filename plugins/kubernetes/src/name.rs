//! The query-name grammar of the cluster zone (CoreDNS `parse.go`).
//!
//! Below the zone, labels read right to left:
//! `[endpoint | _port._proto] . service . namespace . (svc|pod)`. One extra label is an
//! endpoint, two are a port and a protocol (leading `_` stripped), more are too long.
//! Labels are compared in lower case; they are lowered into a buffer on the stack, so
//! parsing a query allocates nothing.

use hickory_proto::rr::Name;

/// The most labels below the zone a valid name has: `_port._proto.svc.ns.svc`.
const MAX_LABELS: usize = 5;

/// The labels of a query name below its zone, in lower case.
pub struct RelativeName {
    labels: [[u8; 63]; MAX_LABELS],
    lens: [u8; MAX_LABELS],
    count: usize,
}

impl RelativeName {
    /// The labels of `qname` left of its last `zone_labels` labels; `None` when there are
    /// more than any valid name has.
    pub fn new(qname: &Name, zone_labels: usize) -> Option<Self> {
        let count = qname.iter().count().checked_sub(zone_labels)?;
        Self::copy(count, qname.iter().take(count), true)
    }

    /// The labels given, leftmost first, already in lower case (as the wire path reads
    /// them); `None` when there are more than any valid name has.
    pub fn from_lower<'l>(labels: impl ExactSizeIterator<Item = &'l [u8]>) -> Option<Self> {
        Self::copy(labels.len(), labels, false)
    }

    /// `count` labels into the buffer, lowered on the way when `lower` says so.
    fn copy<'l>(count: usize, labels: impl Iterator<Item = &'l [u8]>, lower: bool) -> Option<Self> {
        if count > MAX_LABELS {
            return None;
        }
        let mut base = Self {
            labels: [[0; 63]; MAX_LABELS],
            lens: [0; MAX_LABELS],
            count,
        };
        for (i, label) in labels.take(count).enumerate() {
            let len = label.len().min(63);
            let dst = &mut base.labels[i][..len];
            dst.copy_from_slice(&label[..len]);
            if lower {
                dst.make_ascii_lowercase();
            }
            base.lens[i] = len as u8;
        }
        Some(base)
    }

    /// How many labels.
    pub fn label_count(&self) -> usize {
        self.count
    }

    /// Label `i` (0 is the leftmost), lower case, for `i < label_count()`. A label that
    /// is not UTF-8, and any `i` out of that range, reads as `"\0"`, which no
    /// Kubernetes name equals: the grammar never asks for one, and a mistake there
    /// finds nothing instead of panicking.
    pub fn get(&self, i: usize) -> &str {
        debug_assert!(i < self.count, "label {i} of {}", self.count);
        match (self.labels.get(i), self.lens.get(i)) {
            (Some(label), Some(len)) if i < self.count => {
                std::str::from_utf8(&label[..usize::from(*len)]).unwrap_or("\0")
            }
            _ => "\0",
        }
    }

    /// Whether the labels are exactly `words`.
    pub fn is(&self, words: &[&str]) -> bool {
        self.count == words.len() && words.iter().enumerate().all(|(i, w)| self.get(i) == *w)
    }
}

/// What a name below the zone asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum NameRequest<'a> {
    /// The zone itself, `svc.<zone>` or `pod.<zone>`: exists, holds no data.
    Empty,
    /// Not a name of the grammar: NXDOMAIN.
    Invalid,
    /// A name under `svc`.
    Service(ServiceRequest<'a>),
    /// A name under `pod`.
    Pod {
        /// The namespace.
        namespace: &'a str,
        /// The dashed address; `None` for `<ns>.pod.<zone>`.
        name: Option<&'a str>,
        /// Whether more labels stand left of the pod name (CoreDNS ignores them; we
        /// answer NXDOMAIN).
        extra: bool,
    },
}

/// A name under `svc`, split into its parts; `None` parts match anything.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ServiceRequest<'a> {
    /// The namespace.
    pub namespace: &'a str,
    /// The service; `None` for `<ns>.svc.<zone>`.
    pub service: Option<&'a str>,
    /// The endpoint label of `<endpoint>.<svc>.<ns>.svc.<zone>`.
    pub endpoint: Option<&'a str>,
    /// The port name of `_<port>._<proto>.<svc>...`, without the underscore.
    pub port: Option<&'a str>,
    /// The protocol of `_<port>._<proto>.<svc>...`, without the underscore.
    pub protocol: Option<&'a str>,
}

fn strip_underscore(label: &str) -> &str {
    label.strip_prefix('_').unwrap_or(label)
}

/// Parses the labels below the zone.
pub fn parse(base: &RelativeName) -> NameRequest<'_> {
    let n = base.label_count();
    if n == 0 || base.is(&["svc"]) || base.is(&["pod"]) {
        return NameRequest::Empty;
    }
    let kind = base.get(n - 1);
    if kind != "svc" && kind != "pod" {
        return NameRequest::Invalid;
    }
    let namespace = base.get(n - 2);
    if kind == "pod" {
        return NameRequest::Pod {
            namespace,
            name: (n >= 3).then(|| base.get(n - 3)),
            extra: n > 3,
        };
    }
    let mut request = ServiceRequest {
        namespace,
        ..ServiceRequest::default()
    };
    if n >= 3 {
        request.service = Some(base.get(n - 3));
    }
    match n {
        4 => request.endpoint = Some(base.get(0)),
        5 => {
            request.port = Some(strip_underscore(base.get(0)));
            request.protocol = Some(strip_underscore(base.get(1)));
        }
        _ => {}
    }
    NameRequest::Service(request)
}

/// Whether a port named `name` with `protocol` answers a request for `port`/`proto`
/// (absent parts match everything; names compare case-insensitively, and the request
/// is already lower case).
pub fn port_matches(request: &ServiceRequest<'_>, name: &str, protocol: &str) -> bool {
    request.port.is_none_or(|p| p.eq_ignore_ascii_case(name))
        && request
            .protocol
            .is_none_or(|p| p.eq_ignore_ascii_case(protocol))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(name: &str, f: impl FnOnce(NameRequest<'_>)) {
        let qname = Name::from_ascii(name).unwrap();
        match RelativeName::new(&qname, 2) {
            Some(base) => f(parse(&base)),
            None => f(NameRequest::Invalid),
        }
    }

    fn svc<'a>(
        namespace: &'a str,
        service: Option<&'a str>,
        endpoint: Option<&'a str>,
        port: Option<(&'a str, &'a str)>,
    ) -> NameRequest<'a> {
        NameRequest::Service(ServiceRequest {
            namespace,
            service,
            endpoint,
            port: port.map(|p| p.0),
            protocol: port.map(|p| p.1),
        })
    }

    #[test]
    fn parses_the_grammar() {
        with("cluster.local.", |r| assert_eq!(r, NameRequest::Empty));
        with("svc.cluster.local.", |r| assert_eq!(r, NameRequest::Empty));
        with("Pod.cluster.local.", |r| assert_eq!(r, NameRequest::Empty));
        with("foo.cluster.local.", |r| {
            assert_eq!(r, NameRequest::Invalid)
        });
        with("dns-version.cluster.local.", |r| {
            assert_eq!(r, NameRequest::Invalid)
        });
        with("testns.svc.cluster.local.", |r| {
            assert_eq!(r, svc("testns", None, None, None));
        });
        with("SvC1.TeStNs.SvC.cLuStEr.LoCaL.", |r| {
            assert_eq!(r, svc("testns", Some("svc1"), None, None));
        });
        with("ep1a.svc1.testns.svc.cluster.local.", |r| {
            assert_eq!(r, svc("testns", Some("svc1"), Some("ep1a"), None));
        });
        with("_HTTP._Tcp.svc1.testns.svc.cluster.local.", |r| {
            assert_eq!(r, svc("testns", Some("svc1"), None, Some(("http", "tcp"))));
        });
        with("http.tcp.svc1.testns.svc.cluster.local.", |r| {
            assert_eq!(r, svc("testns", Some("svc1"), None, Some(("http", "tcp"))));
        });
        with("a.b.c.svc1.testns.svc.cluster.local.", |r| {
            assert_eq!(r, NameRequest::Invalid);
        });
        with("1-2-3-4.podns.pod.cluster.local.", |r| {
            assert_eq!(
                r,
                NameRequest::Pod {
                    namespace: "podns",
                    name: Some("1-2-3-4"),
                    extra: false
                }
            );
        });
        with("x.1-2-3-4.podns.pod.cluster.local.", |r| {
            assert!(matches!(r, NameRequest::Pod { extra: true, .. }));
        });
        with("podns.pod.cluster.local.", |r| {
            assert_eq!(
                r,
                NameRequest::Pod {
                    namespace: "podns",
                    name: None,
                    extra: false
                }
            );
        });
    }

    #[test]
    fn ports_match_case_insensitively_and_absent_parts_match_all() {
        let request = ServiceRequest {
            namespace: "ns",
            service: Some("s"),
            port: Some("dns-tcp"),
            protocol: Some("tcp"),
            ..ServiceRequest::default()
        };
        assert!(port_matches(&request, "DNS-TCP", "TCP"));
        assert!(!port_matches(&request, "dns", "tcp"));
        assert!(!port_matches(&request, "dns-tcp", "udp"));
        let all = ServiceRequest::default();
        assert!(port_matches(&all, "", ""));
        assert!(port_matches(&all, "http", "tcp"));
    }

    #[test]
    fn labels_are_lowered_without_allocating() {
        let name = Name::from_ascii("A.B.cluster.local.").unwrap();
        let base = RelativeName::new(&name, 2).unwrap();
        assert_eq!((base.get(0), base.get(1)), ("a", "b"));
        assert!(base.is(&["a", "b"]));
        assert!(
            RelativeName::new(&Name::from_ascii("a.b.c.d.e.f.cluster.local.").unwrap(), 2)
                .is_none()
        );
    }
}
