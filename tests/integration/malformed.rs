//! The malformed-packet and fault catalogue: every header bit in a query, each opcode,
//! the odd classes, OPT where it does not belong, compression pointer loops, names over
//! 255 bytes, and the broken TCP frames, sent as bytes over real sockets to a server
//! answering `cluster.local` from a manifest.
//!
//! Each row says what clusterdns answers over UDP and over TCP, and what Knot DNS 3.2
//! (authoritative for the same zone: `kubernetes.default.svc.cluster.local. A
//! 10.96.0.1`) answers the same bytes. Where the RFCs leave room the two may differ,
//! and the row's note says how; where they do not, clusterdns answers as the RFCs and
//! Knot do (unknown opcodes, DSO included, get NOTIMP with only RD copied, even without
//! a question: RFC 8490 §5.1). `knot_answers_as_recorded` (ignored: it
//! needs `knotd`) starts Knot on a loopback port and checks its column:
//! `cargo test --test integration malformed -- --ignored`.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clusterdns::server::{ListenerOptions, TcpLimits};
use clusterdns::{Options, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::support::{free_port, loopback};

const COREFILE: &str = "\
cluster.local {
    bind 127.0.0.1
    kubernetes cluster.local {
        manifests cluster.yaml
    }
}
";

const CLUSTER: &str = "\
apiVersion: v1
kind: Namespace
metadata: {name: default}
---
apiVersion: v1
kind: Service
metadata: {name: kubernetes, namespace: default}
spec: {clusterIP: 10.96.0.1, ports: [{name: https, port: 443}]}
";

/// The same zone for Knot.
const KNOT_ZONE: &str = "\
$ORIGIN cluster.local.
$TTL 30
@ IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 30
@ IN NS ns.dns.cluster.local.
ns.dns IN A 10.96.0.10
kubernetes.default.svc IN A 10.96.0.1
";

/// How long to wait for a reply that should not come.
const SILENCE: Duration = Duration::from_millis(400);
/// How long a TCP connection that should stay open is watched (Knot closes one that
/// sends nothing whole after about 500 ms; clusterdns after its idle timeout).
const CLOSE_WAIT: Duration = Duration::from_millis(1_500);
/// How long a reply or a close that should come may take on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(5);

/// How long to wait for `expected`: not long for nothing, long for something.
fn wait_for(expected: Answer) -> Duration {
    if expected == Nothing {
        SILENCE
    } else {
        PATIENCE
    }
}

/// Header flag bits (the second 16-bit word, without opcode and rcode).
const QR: u16 = 0x8000;
const AA: u16 = 0x0400;
const TC: u16 = 0x0200;
const RD: u16 = 0x0100;
const RA: u16 = 0x0080;
const Z: u16 = 0x0040;
const AD: u16 = 0x0020;
const CD: u16 = 0x0010;
const FLAGS: u16 = QR | AA | TC | RD | RA | Z | AD | CD;

/// What a server does with one message.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// No reply: none within [`SILENCE`] over UDP; over TCP none before the
    /// connection closes or the wait ends.
    Nothing,
    /// A reply with this rcode (extended rcodes included: 16 is BADVERS) and exactly
    /// these flags.
    Reply { rcode: u16, flags: u16 },
}

use Answer::{Nothing, Reply};

/// `NOTIMP qr rd`, as dig prints them.
impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Reply { rcode, flags } = *self else {
            return f.write_str("no reply");
        };
        let name = match rcode {
            NOERROR => "NOERROR".to_owned(),
            FORMERR => "FORMERR".to_owned(),
            NOTIMP => "NOTIMP".to_owned(),
            REFUSED => "REFUSED".to_owned(),
            NOTAUTH => "NOTAUTH".to_owned(),
            BADVERS => "BADVERS".to_owned(),
            other => format!("RCODE{other}"),
        };
        f.write_str(&name)?;
        for (bit, flag) in [
            (QR, "qr"),
            (AA, "aa"),
            (TC, "tc"),
            (RD, "rd"),
            (RA, "ra"),
            (Z, "z"),
            (AD, "ad"),
            (CD, "cd"),
        ] {
            if flags & bit != 0 {
                write!(f, " {flag}")?;
            }
        }
        Ok(())
    }
}

const NOERROR: u16 = 0;
const FORMERR: u16 = 1;
const NOTIMP: u16 = 4;
const REFUSED: u16 = 5;
const NOTAUTH: u16 = 9;
const BADVERS: u16 = 16;

const fn reply(rcode: u16, flags: u16) -> Answer {
    Reply { rcode, flags }
}

/// One row: a message, and what each server answers over UDP and TCP.
struct Row {
    name: &'static str,
    packet: Vec<u8>,
    /// clusterdns over (UDP, TCP).
    clusterdns: (Answer, Answer),
    /// Knot DNS 3.2.6 over (UDP, TCP).
    knot: (Answer, Answer),
}

// ---------------------------------------------------------------------------------
// Building messages.

/// `kubernetes.default.svc.cluster.local.`
const NAME: &[u8] = b"\x0akubernetes\x07default\x03svc\x07cluster\x05local\x00";

fn header(flags: u16, counts: [u16; 4]) -> Vec<u8> {
    let mut packet = vec![0x5a, 0xa5];
    packet.extend_from_slice(&flags.to_be_bytes());
    for count in counts {
        packet.extend_from_slice(&count.to_be_bytes());
    }
    packet
}

fn question(name: &[u8], qtype: u16, class: u16) -> Vec<u8> {
    let mut bytes = name.to_vec();
    bytes.extend_from_slice(&qtype.to_be_bytes());
    bytes.extend_from_slice(&class.to_be_bytes());
    bytes
}

/// A query with `flags` (opcode included) and one question.
fn query_with(flags: u16, qtype: u16, class: u16) -> Vec<u8> {
    let mut packet = header(flags, [1, 0, 0, 0]);
    packet.extend(question(NAME, qtype, class));
    packet
}

fn opcode(op: u16) -> u16 {
    op << 11
}

/// An OPT record: root owner unless `owner`, payload 1232, `version`, `flags`.
fn opt(owner: &[u8], version: u8, flags: u16) -> Vec<u8> {
    let mut record = owner.to_vec();
    record.extend_from_slice(&[0, 41, 0x04, 0xd0, 0, version]);
    record.extend_from_slice(&flags.to_be_bytes());
    record.extend_from_slice(&[0, 0]);
    record
}

/// A query for `NAME` with `records` after the question and the counts that say so.
fn with_records(counts: [u16; 3], records: &[Vec<u8>]) -> Vec<u8> {
    let mut packet = header(RD, [1, counts[0], counts[1], counts[2]]);
    packet.extend(question(NAME, 1, 1));
    for record in records {
        packet.extend_from_slice(record);
    }
    packet
}

/// A question whose name is `name` (raw bytes: labels, pointers), type A class IN.
fn raw_name(name: &[u8]) -> Vec<u8> {
    let mut packet = header(RD, [1, 0, 0, 0]);
    packet.extend(question(name, 1, 1));
    packet
}

fn labels(sizes: &[u8]) -> Vec<u8> {
    let mut name = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        name.push(size);
        name.extend(std::iter::repeat_n(
            b'a' + (i as u8 % 26),
            usize::from(size),
        ));
    }
    name.push(0);
    name
}

fn rows() -> Vec<Row> {
    let both = |a: Answer| (a, a);
    let answer = reply(NOERROR, QR | AA | RD);
    let mut rows = vec![
        Row {
            name: "plain query",
            packet: query_with(RD, 1, 1),
            clusterdns: both(answer),
            knot: both(answer),
        },
        // Header bits (RFC 1035 §4.1.1, RFC 2535, RFC 4035 §3.1.6).
        Row {
            name: "QR set: a response is never answered",
            packet: query_with(QR | RD, 1, 1),
            clusterdns: both(Nothing),
            knot: both(Nothing),
        },
        Row {
            name: "AA set in a query: ignored",
            packet: query_with(AA | RD, 1, 1),
            clusterdns: both(answer),
            knot: both(answer),
        },
        Row {
            name: "TC set in a query: ignored",
            packet: query_with(TC | RD, 1, 1),
            clusterdns: both(answer),
            knot: both(answer),
        },
        Row {
            name: "RD clear: not copied",
            packet: query_with(0, 1, 1),
            clusterdns: both(reply(NOERROR, QR | AA)),
            knot: both(reply(NOERROR, QR | AA)),
        },
        Row {
            name: "RA set in a query: ignored",
            packet: query_with(RA | RD, 1, 1),
            clusterdns: both(answer),
            knot: both(answer),
        },
        Row {
            name: "Z set: ignored, clear in the reply",
            packet: query_with(Z | RD, 1, 1),
            clusterdns: both(answer),
            knot: both(answer),
        },
        Row {
            name: "AD set in a query: AD clear (no validated data)",
            packet: query_with(AD | RD, 1, 1),
            clusterdns: both(answer),
            knot: both(answer),
        },
        Row {
            // RFC 4035 §3.1.6 binds security-aware servers only; Knot does not copy it.
            name: "CD set: copied by clusterdns, not by Knot",
            packet: query_with(CD | RD, 1, 1),
            clusterdns: both(reply(NOERROR, QR | AA | RD | CD)),
            knot: both(answer),
        },
        Row {
            name: "every flag bit set",
            packet: query_with(FLAGS & !QR, 1, 1),
            clusterdns: both(reply(NOERROR, QR | AA | RD | CD)),
            knot: both(answer),
        },
        Row {
            name: "an rcode in a query: ignored",
            packet: query_with(RD | 5, 1, 1),
            clusterdns: both(answer),
            knot: both(answer),
        },
    ];
    // Opcodes (RFC 1035, RFC 1996 NOTIFY, RFC 2136 UPDATE, RFC 8490 DSO): QUERY only.
    for op in 1..16u16 {
        let name: &'static str = Box::leak(format!("opcode {op}").into_boxed_str());
        let knot = match op {
            4 => reply(NOTAUTH, QR | RD), // NOTIFY from no configured primary
            5 => reply(FORMERR, QR | RD), // UPDATE with no zone section content
            _ => reply(NOTIMP, QR | RD),
        };
        rows.push(Row {
            name,
            packet: query_with(opcode(op) | RD, 1, 1),
            clusterdns: both(reply(NOTIMP, QR | RD)),
            knot: both(knot),
        });
    }
    rows.extend([
        Row {
            name: "opcode 6 (DSO), header only",
            packet: header(opcode(6) | RD, [0; 4]),
            clusterdns: both(reply(NOTIMP, QR | RD)),
            knot: both(reply(NOTIMP, QR | RD)),
        },
        Row {
            name: "opcode 15, header only",
            packet: header(opcode(15) | RD, [0; 4]),
            clusterdns: both(reply(NOTIMP, QR | RD)),
            knot: both(reply(NOTIMP, QR | RD)),
        },
        Row {
            name: "opcode 15, header only, RD clear",
            packet: header(opcode(15), [0; 4]),
            clusterdns: both(reply(NOTIMP, QR)),
            knot: both(reply(NOTIMP, QR)),
        },
        Row {
            name: "opcode 15 with CD: only RD copied",
            packet: query_with(opcode(15) | RD | CD, 1, 1),
            clusterdns: both(reply(NOTIMP, QR | RD)),
            knot: both(reply(NOTIMP, QR | RD)),
        },
        Row {
            name: "opcode 15 with CD, header only: only RD copied",
            packet: header(opcode(15) | RD | CD, [0; 4]),
            clusterdns: both(reply(NOTIMP, QR | RD)),
            knot: both(reply(NOTIMP, QR | RD)),
        },
        // Question count (RFC 9619: exactly one).
        Row {
            name: "no question",
            packet: header(RD, [0; 4]),
            clusterdns: both(reply(FORMERR, QR | RD)),
            knot: both(reply(FORMERR, QR | RD)),
        },
        Row {
            // RFC 9619 allows FORMERR or no reply.
            name: "two questions",
            packet: {
                let mut packet = header(RD, [2, 0, 0, 0]);
                packet.extend(question(NAME, 1, 1));
                packet.extend(question(NAME, 1, 1));
                packet
            },
            clusterdns: both(reply(FORMERR, QR | RD)),
            knot: both(Nothing),
        },
        // Classes.
        Row {
            // RFC 1035 QCLASS *: Knot answers the IN data; clusterdns serves IN only.
            name: "class ANY",
            packet: query_with(RD, 1, 255),
            clusterdns: both(reply(REFUSED, QR | RD)),
            knot: both(answer),
        },
        Row {
            name: "class NONE",
            packet: query_with(RD, 1, 254),
            clusterdns: both(reply(REFUSED, QR | RD)),
            knot: both(reply(REFUSED, QR | RD)),
        },
        Row {
            name: "class CH",
            packet: query_with(RD, 1, 3),
            clusterdns: both(reply(REFUSED, QR | RD)),
            knot: both(reply(REFUSED, QR | RD)),
        },
        Row {
            name: "class 0",
            packet: query_with(RD, 1, 0),
            clusterdns: both(reply(REFUSED, QR | RD)),
            knot: both(reply(REFUSED, QR | RD)),
        },
        // Meta types as questions.
        Row {
            // RFC 5936 §4.2: AXFR over UDP may be refused or NOTIMP.
            name: "AXFR",
            packet: query_with(RD, 252, 1),
            clusterdns: both(reply(REFUSED, QR | RD)),
            knot: (reply(NOTIMP, QR | RD), reply(NOTAUTH, QR | RD)),
        },
        Row {
            name: "IXFR without a SOA",
            packet: query_with(RD, 251, 1),
            clusterdns: both(reply(REFUSED, QR | RD)),
            knot: both(reply(NOTAUTH, QR | RD)),
        },
        Row {
            // RFC 6891 §6.1.1: OPT is a pseudo-record; as a question it has no data.
            name: "qtype OPT",
            packet: query_with(RD, 41, 1),
            clusterdns: both(reply(NOERROR, QR | AA | RD)),
            knot: both(reply(NOERROR, QR | AA | RD)),
        },
        Row {
            name: "qtype 0",
            packet: query_with(RD, 0, 1),
            clusterdns: both(reply(NOERROR, QR | AA | RD)),
            knot: both(reply(NOTIMP, QR | RD)),
        },
        // EDNS (RFC 6891).
        Row {
            name: "OPT",
            packet: with_records([0, 0, 1], &[opt(b"\0", 0, 0)]),
            clusterdns: both(answer),
            knot: both(answer),
        },
        Row {
            name: "OPT version 1: BADVERS",
            packet: with_records([0, 0, 1], &[opt(b"\0", 1, 0)]),
            clusterdns: both(reply(BADVERS, QR | RD)),
            knot: both(reply(BADVERS, QR | RD)),
        },
        Row {
            name: "OPT twice: FORMERR",
            packet: with_records([0, 0, 2], &[opt(b"\0", 0, 0), opt(b"\0", 0, 0)]),
            clusterdns: both(reply(FORMERR, QR | RD)),
            knot: both(reply(FORMERR, QR | RD)),
        },
        Row {
            name: "OPT in the answer section",
            packet: with_records([1, 0, 0], &[opt(b"\0", 0, 0)]),
            clusterdns: both(reply(FORMERR, QR | RD)),
            knot: both(reply(FORMERR, QR | RD)),
        },
        Row {
            name: "OPT in the authority section",
            packet: with_records([0, 1, 0], &[opt(b"\0", 0, 0)]),
            clusterdns: both(reply(FORMERR, QR | RD)),
            knot: both(reply(FORMERR, QR | RD)),
        },
        Row {
            // RFC 6891 §6.1.2: the owner MUST be the root. Knot does not check.
            name: "OPT owned by a name other than the root",
            packet: with_records([0, 0, 1], &[opt(b"\x01a\0", 0, 0)]),
            clusterdns: both(reply(FORMERR, QR | RD)),
            knot: both(answer),
        },
        Row {
            name: "OPT with unknown flags: ignored",
            packet: with_records([0, 0, 1], &[opt(b"\0", 0, 0x4000)]),
            clusterdns: both(answer),
            knot: both(answer),
        },
        Row {
            name: "OPT whose option runs past its RDATA",
            packet: with_records(
                [0, 0, 1],
                &[vec![0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 8, 0, 10, 0]],
            ),
            clusterdns: both(reply(FORMERR, QR | RD)),
            knot: both(reply(FORMERR, QR | RD)),
        },
        // Counts that lie, trailing bytes.
        Row {
            name: "an additional count with no record",
            packet: with_records([0, 0, 1], &[]),
            clusterdns: both(reply(FORMERR, QR | RD)),
            knot: both(reply(FORMERR, QR | RD)),
        },
        Row {
            name: "counts of 65535",
            packet: with_records([65_535, 65_535, 65_535], &[]),
            clusterdns: both(reply(FORMERR, QR | RD)),
            knot: both(reply(FORMERR, QR | RD)),
        },
        Row {
            // RFC 1035 does not say; Knot refuses the message, clusterdns ignores the rest.
            name: "bytes after the message",
            packet: {
                let mut packet = query_with(RD, 1, 1);
                packet.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
                packet
            },
            clusterdns: both(answer),
            knot: both(reply(FORMERR, QR | RD)),
        },
        // Names (RFC 1035 §3.1, §4.1.4). Knot drops what it cannot parse; FORMERR is
        // what RFC 1035 describes for a message the server cannot interpret.
        Row {
            name: "a compression pointer to itself",
            packet: raw_name(&[0xc0, 12]),
            clusterdns: both(reply(FORMERR, QR | RD)),
            knot: both(Nothing),
        },
        Row {
            name: "two compression pointers pointing at each other",
            packet: raw_name(&[1, b'a', 0xc0, 14, 0xc0, 12]),
            clusterdns: both(reply(FORMERR, QR | RD)),
            knot: both(Nothing),
        },
        Row {
            name: "a compression pointer forward",
            packet: raw_name(&[0xc0, 14, 1, b'a', 0]),
            clusterdns: both(reply(FORMERR, QR | RD)),
            knot: both(Nothing),
        },
        Row {
            name: "a compression pointer past the end",
            packet: raw_name(&[0xc0, 0xff]),
            clusterdns: both(reply(FORMERR, QR | RD)),
            knot: both(Nothing),
        },
        Row {
            // The header's bytes read as labels make a name outside the zone: refused.
            // RFC 1035 §4.1.4 means pointers to names; Knot drops the message.
            name: "a compression pointer into the header",
            packet: raw_name(&[1, b'a', 0xc0, 2]),
            clusterdns: both(reply(REFUSED, QR | RD)),
            knot: both(Nothing),
        },
        Row {
            name: "label type 0x40 (extended)",
            packet: raw_name(&[0x41, b'a', 0]),
            clusterdns: both(reply(FORMERR, QR | RD)),
            knot: both(Nothing),
        },
        Row {
            name: "label type 0x80 (reserved)",
            packet: raw_name(&[0x81, b'a', 0]),
            clusterdns: both(reply(FORMERR, QR | RD)),
            knot: both(Nothing),
        },
        Row {
            name: "a name of 255 bytes: outside the zone",
            packet: raw_name(&labels(&[63, 63, 63, 61])),
            clusterdns: both(reply(REFUSED, QR | RD)),
            knot: both(reply(REFUSED, QR | RD)),
        },
        Row {
            name: "a name of 256 bytes",
            packet: raw_name(&labels(&[63, 63, 63, 62])),
            clusterdns: both(reply(FORMERR, QR | RD)),
            knot: both(Nothing),
        },
        Row {
            name: "a name without its root label",
            packet: {
                let mut packet = header(RD, [1, 0, 0, 0]);
                packet.extend_from_slice(b"\x01a");
                packet
            },
            clusterdns: both(reply(FORMERR, QR | RD)),
            knot: both(Nothing),
        },
        Row {
            name: "a question without its class",
            packet: {
                let mut packet = header(RD, [1, 0, 0, 0]);
                packet.extend_from_slice(NAME);
                packet.extend_from_slice(&[0, 1]);
                packet
            },
            clusterdns: both(reply(FORMERR, QR | RD)),
            knot: both(Nothing),
        },
        Row {
            name: "11 bytes: no whole header",
            packet: header(RD, [1, 0, 0, 0])[..11].to_vec(),
            clusterdns: both(Nothing),
            knot: both(Nothing),
        },
    ]);
    rows
}

// ---------------------------------------------------------------------------------
// TCP framing (RFC 1035 §4.2.2, RFC 7766).

/// What happened on a TCP connection after some bytes were written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stream {
    /// Closed without a reply.
    Closed,
    /// Still open, without a reply, when the wait ended.
    Open,
    /// A reply came first.
    Replied(Answer),
}

struct TcpRow {
    name: &'static str,
    bytes: Vec<u8>,
    /// Whether the client closes its side after writing.
    half_close: bool,
    clusterdns: Stream,
    knot: Stream,
}

fn framed(packet: &[u8]) -> Vec<u8> {
    let mut bytes = u16::try_from(packet.len())
        .expect("a small packet")
        .to_be_bytes()
        .to_vec();
    bytes.extend_from_slice(packet);
    bytes
}

fn tcp_rows() -> Vec<TcpRow> {
    let query = query_with(RD, 1, 1);
    let answer = Stream::Replied(reply(NOERROR, QR | AA | RD));
    vec![
        TcpRow {
            name: "a zero-length frame",
            bytes: vec![0, 0],
            half_close: false,
            clusterdns: Stream::Closed,
            knot: Stream::Closed,
        },
        TcpRow {
            name: "a zero-length frame, then a query",
            bytes: [vec![0, 0], framed(&query)].concat(),
            half_close: false,
            clusterdns: Stream::Closed,
            knot: Stream::Closed,
        },
        TcpRow {
            name: "one byte of a length",
            bytes: vec![0],
            half_close: true,
            clusterdns: Stream::Closed,
            knot: Stream::Closed,
        },
        TcpRow {
            name: "a length alone",
            bytes: framed(&query)[..2].to_vec(),
            half_close: true,
            clusterdns: Stream::Closed,
            knot: Stream::Closed,
        },
        TcpRow {
            name: "half a message, then the client's end closed",
            bytes: framed(&query)[..22].to_vec(),
            half_close: true,
            clusterdns: Stream::Closed,
            knot: Stream::Closed,
        },
        TcpRow {
            // RFC 7766 §6.2.3 leaves the timeout to the server: Knot's is 500 ms,
            // clusterdns's the idle timeout (10 s; see `a_half_sent_message_holds_up_no_one`).
            name: "half a message, held open",
            bytes: framed(&query)[..22].to_vec(),
            half_close: false,
            clusterdns: Stream::Open,
            knot: Stream::Closed,
        },
        TcpRow {
            name: "a length of 65535 before a short message, then closed",
            bytes: [vec![0xff, 0xff], query.clone()].concat(),
            half_close: true,
            clusterdns: Stream::Closed,
            knot: Stream::Closed,
        },
        TcpRow {
            name: "a frame longer than its message",
            bytes: framed(&[query.clone(), vec![0; 4]].concat()),
            half_close: false,
            clusterdns: answer,
            knot: Stream::Replied(reply(FORMERR, QR | RD)),
        },
        TcpRow {
            name: "a frame of 5 bytes (no whole header)",
            bytes: framed(&query[..5]),
            half_close: false,
            clusterdns: Stream::Open,
            knot: Stream::Closed,
        },
        TcpRow {
            name: "a frame shorter than its message",
            bytes: [
                (query.len() as u16 - 4).to_be_bytes().to_vec(),
                query.clone(),
            ]
            .concat(),
            half_close: false,
            clusterdns: Stream::Replied(reply(FORMERR, QR | RD)),
            knot: Stream::Closed,
        },
    ]
}

// ---------------------------------------------------------------------------------
// Asking.

/// A reply's rcode (extended from its OPT) and flags; `None` if it is not one.
fn summarise(query: &[u8], reply: &[u8]) -> Answer {
    assert!(reply.len() >= 12, "a reply of {} bytes", reply.len());
    assert_eq!(reply[..2], query[..2], "the reply's ID");
    assert_eq!(
        (reply[2] >> 3) & 0x0f,
        (query[2] >> 3) & 0x0f,
        "the reply's opcode"
    );
    let word = u16::from_be_bytes([reply[2], reply[3]]);
    let mut rcode = word & 0x000f;
    if let Ok(message) = hickory_proto::op::Message::from_vec(reply)
        && let Some(edns) = message.edns
    {
        rcode |= u16::from(edns.rcode_high()) << 4;
    }
    Reply {
        rcode,
        flags: word & FLAGS,
    }
}

async fn ask_udp(server: SocketAddr, packet: &[u8], wait: Duration) -> Answer {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    socket.send_to(packet, server).await.expect("send");
    let mut buf = vec![0u8; 65_535];
    match tokio::time::timeout(wait, socket.recv_from(&mut buf)).await {
        Ok(Ok((len, _))) => summarise(packet, &buf[..len]),
        _ => Nothing,
    }
}

/// Writes `bytes`, closes the write side if `half_close`, and sees what comes back.
async fn stream(
    server: SocketAddr,
    bytes: &[u8],
    half_close: bool,
    query: &[u8],
    wait: Duration,
) -> Stream {
    let mut stream = TcpStream::connect(server).await.expect("connect");
    // A server that closes early may reset the rest of the write: that is a close too.
    if stream.write_all(bytes).await.is_err() {
        return Stream::Closed;
    }
    if half_close {
        let _ = stream.shutdown().await;
    }
    let read = async {
        let mut len = [0u8; 2];
        match stream.read_exact(&mut len).await {
            Ok(_) => {
                let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
                match stream.read_exact(&mut reply).await {
                    Ok(_) => Stream::Replied(summarise(query, &reply)),
                    Err(_) => Stream::Closed,
                }
            }
            Err(_) => Stream::Closed,
        }
    };
    tokio::time::timeout(wait, read)
        .await
        .unwrap_or(Stream::Open)
}

async fn ask_tcp(server: SocketAddr, packet: &[u8], wait: Duration) -> Answer {
    match stream(server, &framed(packet), false, packet, wait).await {
        Stream::Replied(answer) => answer,
        Stream::Closed | Stream::Open => Nothing,
    }
}

/// Asks every row (and TCP row) of `rows` of `udp`/`tcp`, with `expected` picking the
/// column; every difference, in one message.
async fn differences(
    udp: SocketAddr,
    tcp: SocketAddr,
    rows: &[Row],
    tcp_rows: &[TcpRow],
    expected: impl Fn(&Row) -> (Answer, Answer),
    expected_stream: impl Fn(&TcpRow) -> Stream,
) -> Vec<String> {
    let mut wrong = Vec::new();
    for row in rows {
        let got = (
            ask_udp(udp, &row.packet, wait_for(expected(row).0)).await,
            ask_tcp(tcp, &row.packet, wait_for(expected(row).1)).await,
        );
        if got != expected(row) {
            wrong.push(format!(
                "{}: expected {:?}, got {got:?}",
                row.name,
                expected(row)
            ));
        }
    }
    for row in tcp_rows {
        let query = query_with(RD, 1, 1);
        let wait = if expected_stream(row) == Stream::Open {
            CLOSE_WAIT
        } else {
            PATIENCE
        };
        let got = stream(tcp, &row.bytes, row.half_close, &query, wait).await;
        if got != expected_stream(row) {
            wrong.push(format!(
                "TCP {}: expected {:?}, got {got:?}",
                row.name,
                expected_stream(row)
            ));
        }
    }
    wrong
}

/// A server with a short TCP idle timeout, so that a half-sent message is given up
/// on within a test's patience.
async fn start(idle_timeout: Duration) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("cluster.yaml"), CLUSTER).expect("write cluster.yaml");
    let conf = dir.path().join("Corefile");
    std::fs::write(&conf, COREFILE).expect("write Corefile");
    let mut options = Options::new(conf);
    options.dns_port = 0;
    options.listener = ListenerOptions {
        udp_workers: 2,
        tcp: TcpLimits {
            idle_timeout,
            ..TcpLimits::default()
        },
        ..ListenerOptions::default()
    };
    let server = Server::start(&options).await.expect("server starts");
    (server, dir)
}

fn addresses(server: &Server) -> (SocketAddr, SocketAddr) {
    (
        loopback(server.udp_addrs()[0]),
        loopback(server.tcp_addrs()[0]),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalogue_as_clusterdns_answers_it() {
    let (server, _dir) = start(Duration::from_secs(10)).await;
    let (udp, tcp) = addresses(&server);
    let (rows, tcp_rows) = (rows(), tcp_rows());
    assert!(rows.len() >= 60, "{} rows", rows.len());
    let wrong = differences(
        udp,
        tcp,
        &rows,
        &tcp_rows,
        |r| r.clusterdns,
        |r| r.clusterdns,
    )
    .await;
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Still serving after all of it.
    assert_eq!(
        ask_udp(udp, &query_with(RD, 1, 1), PATIENCE).await,
        reply(NOERROR, QR | AA | RD)
    );
    assert_eq!(
        ask_tcp(tcp, &query_with(RD, 1, 1), PATIENCE).await,
        reply(NOERROR, QR | AA | RD)
    );
}

/// A client that sends half a message and waits holds up no one: UDP and other TCP
/// clients are answered meanwhile, and its connection is closed after the idle timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_message_holds_up_no_one() {
    let (server, _dir) = start(Duration::from_secs(1)).await;
    let (udp, tcp) = addresses(&server);
    let query = query_with(RD, 1, 1);
    let mut stalled = Vec::new();
    for _ in 0..8 {
        let mut stream = TcpStream::connect(tcp).await.expect("connect");
        stream
            .write_all(&framed(&query)[..22])
            .await
            .expect("write");
        stalled.push(stream);
    }
    for _ in 0..5 {
        assert_eq!(
            ask_udp(udp, &query, PATIENCE).await,
            reply(NOERROR, QR | AA | RD)
        );
        assert_eq!(
            ask_tcp(tcp, &query, PATIENCE).await,
            reply(NOERROR, QR | AA | RD)
        );
    }
    let started = Instant::now();
    for mut stream in stalled {
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest))
            .await
            .is_ok();
        assert!(
            closed,
            "a stalled connection was kept past the idle timeout"
        );
        assert!(rest.is_empty(), "a reply to half a message");
    }
    assert!(started.elapsed() < Duration::from_secs(10));
}

// ---------------------------------------------------------------------------------
// Knot.

/// `knotd` serving `KNOT_ZONE` on a loopback port, stopped when dropped.
struct Knot {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Knot {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let path = |name: &str| dir.path().join(name).display().to_string();
        std::fs::write(path("cluster.local.zone"), KNOT_ZONE).expect("write the zone");
        let conf = format!(
            "server:\n    listen: 127.0.0.1@{port}\n    rundir: {}\n\
             database:\n    storage: {}\n\
             zone:\n  - domain: cluster.local\n    file: {}\n",
            dir.path().display(),
            path("db"),
            path("cluster.local.zone"),
        );
        std::fs::write(path("knot.conf"), conf).expect("write knot.conf");
        let child = Command::new(knotd())
            .args(["-c", &path("knot.conf")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("knotd starts");
        Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            _dir: dir,
        }
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn knotd() -> &'static str {
    if Path::new("/usr/sbin/knotd").exists() {
        "/usr/sbin/knotd"
    } else {
        "knotd"
    }
}

/// Knot answers every row as its column says (Knot 3.2; Debian's `knot` package).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs knot (knotd)"]
async fn knot_answers_as_recorded() {
    let knot = Knot::start();
    let query = query_with(RD, 1, 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while ask_udp(knot.addr, &query, SILENCE).await == Nothing {
        assert!(Instant::now() < deadline, "knotd did not answer");
    }
    let wrong = differences(
        knot.addr,
        knot.addr,
        &rows(),
        &tcp_rows(),
        |r| r.knot,
        |r| r.knot,
    )
    .await;
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
