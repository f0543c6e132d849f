//! The `hosts` plugin in the query chain.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clusterdns_api::proto::op::ResponseCode;
use clusterdns_api::proto::rr::rdata::{A, AAAA, PTR};
use clusterdns_api::proto::rr::{Name, RData, Record, RecordType};
use clusterdns_api::wire::{AnswerOrder, AnswerWriter, Wire, WireName, WireQuery};
use clusterdns_api::{BoxFuture, Ctx, Fallthrough, Next, Plugin, PluginError, Response};

use crate::map::normalize_ip;
use crate::source::HostsSource;
use crate::watcher;

/// The rcode for a name in the plugin's zones that has no entry, when fallthrough
/// does not cover it. CoreDNS answers SERVFAIL here (it has no SOA for a proper
/// NXDOMAIN); this server answers NXDOMAIN, see the README.
const NOT_FOUND: ResponseCode = ResponseCode::NXDomain;

/// Answers A, AAAA and PTR queries from a hosts file and inline entries.
pub struct Hosts {
    source: Arc<HostsSource>,
    zones: Vec<Name>,
    /// `zones` for matching on the wire path.
    wire_zones: Vec<WireName>,
    ttl: u32,
    reload: Duration,
    fallthrough: Fallthrough,
    fallthrough_unsupported: bool,
    watching: AtomicBool,
}

/// What to do with a query.
enum Outcome {
    Answer(Response),
    Next,
}

impl Hosts {
    pub(crate) fn new(
        source: Arc<HostsSource>,
        zones: Vec<Name>,
        ttl: u32,
        reload: Duration,
        fallthrough: Fallthrough,
        fallthrough_unsupported: bool,
    ) -> Self {
        Self {
            source,
            wire_zones: zones.iter().map(WireName::new).collect(),
            zones,
            ttl,
            reload,
            fallthrough,
            fallthrough_unsupported,
            watching: AtomicBool::new(false),
        }
    }

    /// Starts the file watcher once, as soon as a Tokio runtime is at hand: setup may
    /// run outside one, and every query runs inside one.
    pub(crate) fn ensure_watcher(&self) {
        if self.reload.is_zero() || self.watching.load(Ordering::Relaxed) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if !self.watching.swap(true, Ordering::SeqCst) {
            watcher::spawn(&runtime, Arc::downgrade(&self.source), self.reload);
        }
    }

    fn decide(&self, ctx: &Ctx) -> Outcome {
        let qname = ctx.qname();
        let qtype = ctx.qtype();
        // Reverse names need not be in the zones: PTR answers come from the entries.
        if qtype == RecordType::PTR {
            return self.reverse(ctx);
        }
        if !self.zones.iter().any(|zone| zone.zone_of(qname)) {
            return Outcome::Next;
        }
        let key = qname.to_lowercase();
        let Some(addrs) = self.source.lookup(&key) else {
            return self.not_found(ctx);
        };
        let data: Vec<RData> = match qtype {
            RecordType::A => addrs.v4.iter().map(|ip| RData::A(A(*ip))).collect(),
            RecordType::AAAA => addrs.v6.iter().map(|ip| RData::AAAA(AAAA(*ip))).collect(),
            _ if self.fallthrough_unsupported && self.fallthrough.through(qname) => {
                return Outcome::Next;
            }
            _ => Vec::new(),
        };
        // An empty answer here is NODATA: the name exists, only not with this type.
        Outcome::Answer(self.answer(ctx, data))
    }

    fn reverse(&self, ctx: &Ctx) -> Outcome {
        let names = reverse_address(ctx.qname())
            .map(|ip| self.source.names_of(ip))
            .unwrap_or_default();
        if names.is_empty() {
            // As in CoreDNS, an unknown address goes on whatever `fallthrough` says:
            // reverse zones are usually served by a later plugin.
            return Outcome::Next;
        }
        let data = names.into_iter().map(|n| RData::PTR(PTR(n))).collect();
        Outcome::Answer(self.answer(ctx, data))
    }

    fn not_found(&self, ctx: &Ctx) -> Outcome {
        if self.fallthrough.through(ctx.qname()) {
            return Outcome::Next;
        }
        Outcome::Answer(Response::authoritative(ctx, "hosts", NOT_FOUND, Vec::new()))
    }

    /// An authoritative NOERROR answer whose owner is the query name as the client
    /// wrote it: some clients compare it case-sensitively with their question.
    fn answer(&self, ctx: &Ctx, data: Vec<RData>) -> Response {
        let records = data
            .into_iter()
            .map(|rdata| Record::from_rdata(ctx.qname().clone(), self.ttl, rdata))
            .collect();
        Response::authoritative(ctx, "hosts", ResponseCode::NoError, records)
    }
}

/// The address a full `in-addr.arpa`/`ip6.arpa` name stands for; `None` for anything
/// else, including partial reverse names such as `10.in-addr.arpa.`.
fn reverse_address(name: &Name) -> Option<IpAddr> {
    let net = name.parse_arpa_name().ok()?;
    if net.prefix_len() != net.max_prefix_len() {
        return None;
    }
    Some(normalize_ip(net.addr()))
}

/// The question name of a wire query, lower case; `None` for a name the labels do
/// not make (never for a parsed query).
fn wire_qname(query: &WireQuery<'_>) -> Option<Name> {
    Name::from_labels(query.labels_before(query.label_count())).ok()
}

impl Hosts {
    /// The wire path's answer: the decisions of [`decide`](Self::decide) for A and
    /// AAAA hits (NODATA included), misses (NXDOMAIN or pass) and PTR hits with one
    /// name, written with `AnswerWriter`; anything else takes the ordinary path.
    fn answer_wire(&self, query: &WireQuery<'_>, buf: &mut Vec<u8>) -> Wire {
        let qtype = query.qtype();
        if qtype == RecordType::PTR {
            return self.reverse_wire(query, buf);
        }
        if !self
            .wire_zones
            .iter()
            .any(|zone| zone.start_in(query).is_some())
        {
            return Wire::Pass;
        }
        let Some(name) = wire_qname(query) else {
            return Wire::Ordinary;
        };
        let found = self.source.with_addrs(&name, |addrs| {
            let ips: Vec<IpAddr> = match qtype {
                RecordType::A => addrs.v4.iter().map(|ip| IpAddr::V4(*ip)).collect(),
                RecordType::AAAA => addrs.v6.iter().map(|ip| IpAddr::V6(*ip)).collect(),
                _ => return Wire::Ordinary,
            };
            // `loadbalance` shuffles more than one address; the ordinary path does it.
            if ips.len() > 1 && query.order() == AnswerOrder::Shuffled {
                return Wire::Ordinary;
            }
            let owner = query.pointer_to(0);
            let mut writer = AnswerWriter::new(query, ResponseCode::NoError, true, buf);
            for ip in ips {
                writer.address(&owner, self.ttl, ip);
            }
            finished(writer.finish(query), ResponseCode::NoError)
        });
        match found {
            Some(wire) => wire,
            None if self.fallthrough.through(&name) => Wire::Pass,
            None => {
                let writer = AnswerWriter::new(query, NOT_FOUND, true, buf);
                finished(writer.finish(query), NOT_FOUND)
            }
        }
    }

    fn reverse_wire(&self, query: &WireQuery<'_>, buf: &mut Vec<u8>) -> Wire {
        let Some(name) = wire_qname(query) else {
            return Wire::Ordinary;
        };
        let names = reverse_address(&name)
            .map(|ip| self.source.names_of(ip))
            .unwrap_or_default();
        let target = match names.as_slice() {
            [] => return Wire::Pass,
            [one] => one,
            // Several targets may share suffixes the ordinary path compresses.
            _ => return Wire::Ordinary,
        };
        let mut writer = AnswerWriter::new(query, ResponseCode::NoError, true, buf);
        writer.record(&query.pointer_to(0), RecordType::PTR, self.ttl, |out| {
            for label in target.iter() {
                // Labels of a parsed name are at most 63 bytes.
                out.push(label.len() as u8);
                out.extend_from_slice(label);
            }
            out.push(0);
        });
        finished(writer.finish(query), ResponseCode::NoError)
    }
}

/// `Answered` when the answer fits the client, else the ordinary path (which truncates).
fn finished(written: Option<usize>, rcode: ResponseCode) -> Wire {
    match written {
        Some(_) => Wire::Answered {
            rcode,
            writer: "hosts",
        },
        None => Wire::Ordinary,
    }
}

impl Plugin for Hosts {
    fn name(&self) -> &'static str {
        "hosts"
    }

    fn serve<'a>(
        &'a self,
        ctx: &'a mut Ctx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<Response, PluginError>> {
        self.ensure_watcher();
        match self.decide(ctx) {
            Outcome::Answer(response) => Box::pin(async move { Ok(response) }),
            Outcome::Next => next.run(ctx),
        }
    }

    fn serve_wire(&self, query: &mut WireQuery<'_>, buf: &mut Vec<u8>) -> Wire {
        self.ensure_watcher();
        self.answer_wire(query, buf)
    }
}
