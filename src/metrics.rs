//! CoreDNS's per-query metrics (`coredns_dns_*`), recorded by the server for every block
//! that has the `prometheus` directive, with CoreDNS's names, labels and buckets so that
//! existing dashboards and alerts keep working.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use clusterdns_api::metrics::{Label, SIZE_BUCKETS, duration_buckets, register};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    server: Label,
    zone: Label,
    view: &'static str,
    proto: &'static str,
    family: &'static str,
    r#type: &'static str,
}

/// No `type` label: CoreDNS dropped it in 1.8.4 (it split the latency alert per query
/// type and multiplied the series).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    server: Label,
    zone: Label,
    view: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SizeLabels {
    server: Label,
    zone: Label,
    view: &'static str,
    proto: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BlockLabels {
    server: Label,
    zone: Label,
    view: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResponseLabels {
    server: Label,
    zone: Label,
    view: &'static str,
    rcode: &'static str,
    plugin: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    server: Label,
    zone: Label,
    view: &'static str,
    name: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The families behind `coredns_dns_*`, `coredns_panics_total` and
/// `coredns_plugin_enabled`.
pub struct DnsMetrics {
    requests: Family<RequestLabels, Counter>,
    do_requests: Family<BlockLabels, Counter>,
    duration: HistogramFamily<DurationLabels>,
    request_size: HistogramFamily<SizeLabels>,
    response_size: HistogramFamily<SizeLabels>,
    responses: Family<ResponseLabels, Counter>,
    panics: Counter,
    plugin_enabled: Family<PluginLabels, Gauge>,
}

fn duration_histogram() -> Histogram {
    Histogram::new(duration_buckets())
}

fn size_histogram() -> Histogram {
    Histogram::new(SIZE_BUCKETS)
}

/// The process's DNS metrics, registered on first use.
pub static DNS_METRICS: LazyLock<DnsMetrics> = LazyLock::new(|| {
    let metrics = DnsMetrics {
        requests: Family::default(),
        do_requests: Family::default(),
        duration: Family::new_with_constructor(duration_histogram as fn() -> Histogram),
        request_size: Family::new_with_constructor(size_histogram as fn() -> Histogram),
        response_size: Family::new_with_constructor(size_histogram as fn() -> Histogram),
        responses: Family::default(),
        panics: Counter::default(),
        plugin_enabled: Family::default(),
    };
    register(
        "dns_requests",
        "Counter of DNS requests made per zone, protocol and family",
        metrics.requests.clone(),
    );
    register(
        "dns_do_requests",
        "Counter of DNS requests with DO bit set per zone",
        metrics.do_requests.clone(),
    );
    register(
        "dns_request_duration_seconds",
        "Histogram of the time (in seconds) each request took per zone",
        metrics.duration.clone(),
    );
    register(
        "dns_request_size_bytes",
        "Size of the EDNS0 UDP buffer in bytes (64K for TCP) per zone and protocol",
        metrics.request_size.clone(),
    );
    register(
        "dns_response_size_bytes",
        "Size of the returned response in bytes",
        metrics.response_size.clone(),
    );
    register(
        "dns_responses",
        "Counter of response status codes",
        metrics.responses.clone(),
    );
    register(
        "panics",
        "A metrics that counts the number of panics",
        metrics.panics.clone(),
    );
    register(
        "plugin_enabled",
        "A metric that indicates whether a plugin is enabled on per server and zone basis",
        metrics.plugin_enabled.clone(),
    );
    metrics
});

/// What the server knows about one answered query.
pub struct QueryRecord<'a> {
    /// The listener's label, e.g. `dns://:53`.
    pub server: &'a Label,
    /// The block's zone that matched.
    pub zone: &'a Label,
    /// `udp` or `tcp`.
    pub proto: &'static str,
    /// Whether the client is on IPv6.
    pub ipv6: bool,
    /// The question's type.
    pub qtype: RecordType,
    /// Whether the DO bit was set.
    pub dnssec_ok: bool,
    /// Request size in bytes.
    pub request_size: usize,
    /// Response size in bytes.
    pub response_size: usize,
    /// The answer's rcode.
    pub rcode: ResponseCode,
    /// The plugin that wrote the answer (empty when the server did).
    pub plugin: &'static str,
    /// Time from receipt to the encoded answer.
    pub duration: Duration,
}

/// The `zone` label of queries no block serves (answered REFUSED), as CoreDNS counts
/// them.
pub static DROPPED_ZONE: LazyLock<Label> = LazyLock::new(|| Label::from("dropped"));

/// The metric handles one kind of query updates, found once per worker thread.
///
/// Finding a labelled series in a `Family` hashes every label (the server and zone
/// strings too) and takes a lock, six times per query; the handles themselves are
/// shared counters and histograms. Each thread keeps the handles of the label sets it
/// has seen, keyed by the label strings' addresses (the key holds the `Arc`s, so an
/// address cannot be reused for another string while cached) and the `'static`
/// labels, in a map that is cleared when it grows past [`MAX_CACHED_SERIES`].
struct Handles {
    requests: Counter,
    /// Made on the first query with DO, so that (as in CoreDNS) the series exists only
    /// once there was one.
    do_requests: Option<Counter>,
    duration: Histogram,
    request_size: Histogram,
    response_size: Histogram,
    responses: Counter,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct HandleKey {
    server: ByAddress,
    zone: ByAddress,
    proto: &'static str,
    ipv6: bool,
    qtype: &'static str,
    rcode: &'static str,
    plugin: &'static str,
}

/// A label compared and hashed by the address of its string.
#[derive(Clone)]
struct ByAddress(Label);

impl PartialEq for ByAddress {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0.0, &other.0.0)
    }
}

impl Eq for ByAddress {}

impl std::hash::Hash for ByAddress {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::ptr::hash(std::sync::Arc::as_ptr(&self.0.0), state);
    }
}

/// Label sets a thread keeps handles for before it starts over.
const MAX_CACHED_SERIES: usize = 512;

thread_local! {
    static HANDLES: RefCell<HashMap<HandleKey, Handles>> = RefCell::new(HashMap::new());
}

impl DnsMetrics {
    /// Counts one answered query.
    pub fn record(&self, q: &QueryRecord<'_>) {
        let key = HandleKey {
            server: ByAddress(q.server.clone()),
            zone: ByAddress(q.zone.clone()),
            proto: q.proto,
            ipv6: q.ipv6,
            qtype: type_label(q.qtype),
            rcode: rcode_label(q.rcode),
            plugin: q.plugin,
        };
        HANDLES.with_borrow_mut(|handles| {
            if !handles.contains_key(&key) && handles.len() >= MAX_CACHED_SERIES {
                handles.clear();
            }
            let series = handles
                .entry(key)
                .or_insert_with_key(|key| self.handles(key));
            series.requests.inc();
            if q.dnssec_ok {
                series
                    .do_requests
                    .get_or_insert_with(|| {
                        self.do_requests.get_or_create_owned(&BlockLabels {
                            server: q.server.clone(),
                            zone: q.zone.clone(),
                            view: "",
                        })
                    })
                    .inc();
            }
            series.duration.observe(q.duration.as_secs_f64());
            series.request_size.observe(q.request_size as f64);
            series.response_size.observe(q.response_size as f64);
            series.responses.inc();
        });
    }

    /// The handles of a label set, found (or created) in the families.
    fn handles(&self, key: &HandleKey) -> Handles {
        let (server, zone) = (&key.server.0, &key.zone.0);
        let size = SizeLabels {
            server: server.clone(),
            zone: zone.clone(),
            view: "",
            proto: key.proto,
        };
        Handles {
            requests: self.requests.get_or_create_owned(&RequestLabels {
                server: server.clone(),
                zone: zone.clone(),
                view: "",
                proto: key.proto,
                family: if key.ipv6 { "2" } else { "1" },
                r#type: key.qtype,
            }),
            do_requests: None,
            duration: self.duration.get_or_create_owned(&DurationLabels {
                server: server.clone(),
                zone: zone.clone(),
                view: "",
            }),
            request_size: self.request_size.get_or_create_owned(&size),
            response_size: self.response_size.get_or_create_owned(&size),
            responses: self.responses.get_or_create_owned(&ResponseLabels {
                server: server.clone(),
                zone: zone.clone(),
                view: "",
                rcode: key.rcode,
                plugin: key.plugin,
            }),
        }
    }

    /// Counts a panic caught in a plugin.
    pub fn panicked(&self) {
        self.panics.inc();
    }

    /// Sets `coredns_plugin_enabled` for a plugin of a block.
    pub fn plugin_enabled(&self, server: &Label, zone: &Label, name: &'static str) {
        self.plugin_enabled
            .get_or_create(&PluginLabels {
                server: server.clone(),
                zone: zone.clone(),
                view: "",
                name,
            })
            .set(1);
    }
}

/// CoreDNS's `type` label: the type's name for the common types, `other` otherwise.
pub fn type_label(qtype: RecordType) -> &'static str {
    use RecordType::*;
    match qtype {
        A => "A",
        AAAA => "AAAA",
        CNAME => "CNAME",
        DNSKEY => "DNSKEY",
        DS => "DS",
        MX => "MX",
        NSEC3 => "NSEC3",
        NSEC => "NSEC",
        NS => "NS",
        PTR => "PTR",
        RRSIG => "RRSIG",
        SOA => "SOA",
        SRV => "SRV",
        TXT => "TXT",
        HTTPS => "HTTPS",
        SVCB => "SVCB",
        IXFR => "IXFR",
        AXFR => "AXFR",
        ANY => "ANY",
        _ => "other",
    }
}

/// The rcode's name as CoreDNS (miekg/dns) spells it.
pub fn rcode_label(rcode: ResponseCode) -> &'static str {
    match rcode {
        ResponseCode::NoError => "NOERROR",
        ResponseCode::FormErr => "FORMERR",
        ResponseCode::ServFail => "SERVFAIL",
        ResponseCode::NXDomain => "NXDOMAIN",
        ResponseCode::NotImp => "NOTIMP",
        ResponseCode::Refused => "REFUSED",
        ResponseCode::YXDomain => "YXDOMAIN",
        ResponseCode::YXRRSet => "YXRRSET",
        ResponseCode::NXRRSet => "NXRRSET",
        ResponseCode::NotAuth => "NOTAUTH",
        ResponseCode::NotZone => "NOTZONE",
        ResponseCode::BADVERS => "BADVERS",
        ResponseCode::BADSIG => "BADSIG",
        ResponseCode::BADKEY => "BADKEY",
        ResponseCode::BADTIME => "BADTIME",
        ResponseCode::BADMODE => "BADMODE",
        ResponseCode::BADNAME => "BADNAME",
        ResponseCode::BADALG => "BADALG",
        ResponseCode::BADTRUNC => "BADTRUNC",
        ResponseCode::BADCOOKIE => "BADCOOKIE",
        _ => "OTHER",
    }
}
