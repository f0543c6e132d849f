//! The query as plugins see it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use hickory_proto::op::{Edns, Metadata, Query};
use hickory_proto::rr::{DNSClass, Name, RecordType};

/// The transport a query arrived on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// DNS over UDP: answers are truncated to the client's payload size.
    Udp,
    /// DNS over TCP: answers are sent whole.
    Tcp,
}

impl Protocol {
    /// `udp` or `tcp`, as CoreDNS's metrics and logs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
        }
    }
}

/// One query on its way through the chain.
///
/// The server fills it from the packet; a plugin may change `query` (as `rewrite` would)
/// and must then restore it before returning, because the answer's question is built
/// from it.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// The request's header fields (ID, opcode, RD, CD, ...).
    pub metadata: Metadata,
    /// The single question, its name exactly as the client wrote it (case kept).
    pub query: Query,
    /// The client's OPT record, when it sent one.
    pub edns: Option<Edns>,
    /// The client's address.
    pub src: SocketAddr,
    /// The address the query arrived on.
    pub local: SocketAddr,
    /// UDP or TCP.
    pub protocol: Protocol,
    /// Size of the request on the wire, in bytes.
    pub request_size: usize,
    /// The server block's key that matched the query, e.g. `cluster.local.` (lower case).
    pub zone: Arc<str>,
    /// The listener's label in metrics, e.g. `dns://:53`.
    pub server: Arc<str>,
    /// When the query was received.
    pub start: Instant,
}

impl Ctx {
    /// A query for `name`/`qtype` (class IN) from `src`, with RD set and no EDNS, in the
    /// root zone: what tests and internal probes start from.
    pub fn new(query: Query, src: SocketAddr, protocol: Protocol) -> Self {
        let mut metadata = Metadata::new(
            0,
            hickory_proto::op::MessageType::Query,
            hickory_proto::op::OpCode::Query,
        );
        metadata.recursion_desired = true;
        Self {
            metadata,
            query,
            edns: None,
            src,
            local: SocketAddr::from(([127, 0, 0, 1], 53)),
            protocol,
            request_size: 0,
            zone: Arc::from("."),
            server: Arc::from("dns://:53"),
            start: Instant::now(),
        }
    }

    /// The question's name as the client wrote it.
    pub fn qname(&self) -> &Name {
        self.query.name()
    }

    /// The question's type.
    pub fn qtype(&self) -> RecordType {
        self.query.query_type()
    }

    /// The question's class.
    pub fn qclass(&self) -> DNSClass {
        self.query.query_class()
    }

    /// Whether the client set the DNSSEC OK bit.
    pub fn dnssec_ok(&self) -> bool {
        self.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok)
    }

    /// The largest UDP answer the client accepts (512 without EDNS).
    pub fn udp_payload(&self) -> u16 {
        self.edns.as_ref().map_or(512, |e| e.max_payload().max(512))
    }
}
