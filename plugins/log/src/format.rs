//! Log formats: parsing `{placeholder}` templates once, and filling them per query.
//!
//! Filling is a pure function of an [`Entry`], so every placeholder is tested against
//! exact strings.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clusterdns_api::Protocol;
use clusterdns_api::proto::op::{MessageType, Metadata, OpCode, ResponseCode};
use clusterdns_api::proto::rr::{DNSClass, RecordType};

use crate::classify::ResponseType;

/// CoreDNS's Common Log Format.
pub const COMMON: &str = r#"{remote}:{port} - {>id} "{type} {class} {name} {proto} {size} {>do} {>bufsize}" {rcode} {>rflags} {rsize} {duration}"#;

/// The Common Log Format with the query's opcode appended.
pub const COMBINED: &str = r#"{remote}:{port} - {>id} "{type} {class} {name} {proto} {size} {>do} {>bufsize}" {rcode} {>rflags} {rsize} {duration} "{>opcode}""#;

/// What a placeholder stands for where nothing is known.
const EMPTY: &str = "-";

/// Everything a log line can show about one query and its answer.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The query name, lower case, fully qualified.
    pub name: String,
    /// The query type.
    pub qtype: RecordType,
    /// The query class.
    pub qclass: DNSClass,
    /// UDP or TCP.
    pub protocol: Protocol,
    /// The client's address.
    pub remote: SocketAddr,
    /// The address the query arrived on.
    pub local: SocketAddr,
    /// The request's size in bytes.
    pub size: usize,
    /// The request's ID.
    pub id: u16,
    /// The request's opcode.
    pub opcode: OpCode,
    /// Whether the request set the DNSSEC OK bit.
    pub dnssec_ok: bool,
    /// The largest answer the client takes: its EDNS payload size (at least 512) over
    /// UDP, 65535 over TCP.
    pub bufsize: u16,
    /// The answer's header: rcode and flags.
    pub header: Metadata,
    /// The answer's encoded size, when it was measured.
    pub rsize: Option<usize>,
    /// How long the rest of the chain took.
    pub duration: Duration,
    /// The kind of answer, for `{/log/type}` and `{/log/class}`.
    pub response_type: ResponseType,
}

/// One piece of a format.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    /// Text copied as is.
    Literal(String),
    /// A `{placeholder}`.
    Label(Label),
    /// A `{/metadata}` label, without its braces and slash.
    Metadata(String),
}

/// The placeholders CoreDNS's log plugin knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Label {
    Type,
    Name,
    Class,
    Proto,
    Size,
    Remote,
    Port,
    Local,
    Id,
    Opcode,
    Do,
    Bufsize,
    Rcode,
    Rsize,
    Duration,
    Rflags,
}

impl Label {
    fn from_placeholder(text: &str) -> Option<Self> {
        Some(match text {
            "{type}" => Self::Type,
            "{name}" => Self::Name,
            "{class}" => Self::Class,
            "{proto}" => Self::Proto,
            "{size}" => Self::Size,
            "{remote}" => Self::Remote,
            "{port}" => Self::Port,
            "{local}" => Self::Local,
            "{>id}" => Self::Id,
            "{>opcode}" => Self::Opcode,
            "{>do}" => Self::Do,
            "{>bufsize}" => Self::Bufsize,
            "{rcode}" => Self::Rcode,
            "{rsize}" => Self::Rsize,
            "{duration}" => Self::Duration,
            "{>rflags}" => Self::Rflags,
            _ => return None,
        })
    }
}

/// A parsed log format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Format {
    nodes: Vec<Node>,
}

impl Default for Format {
    fn default() -> Self {
        Self::parse(COMMON)
    }
}

impl Format {
    /// Parses `text`, with `{common}` and `{combined}` expanded first.
    ///
    /// As in CoreDNS, a placeholder is the innermost `{...}`: the parser finds each
    /// `}` and looks back for the nearest `{`, so `{ {type} }` shows the type between
    /// literal braces. Unknown placeholders stay as written.
    pub fn parse(text: &str) -> Self {
        let text = text
            .replace("{common}", COMMON)
            .replace("{combined}", COMBINED);
        let mut nodes = Vec::new();
        let mut rest = text.as_str();
        while let Some(close) = rest.find('}') {
            let Some(open) = rest[..close].rfind('{') else {
                push_literal(&mut nodes, &rest[..=close]);
                rest = &rest[close + 1..];
                continue;
            };
            let placeholder = &rest[open..=close];
            let node = if let Some(label) = Label::from_placeholder(placeholder) {
                Some(Node::Label(label))
            } else {
                placeholder
                    .strip_prefix("{/")
                    .and_then(|p| p.strip_suffix('}'))
                    .map(|label| Node::Metadata(label.to_owned()))
            };
            match node {
                Some(node) => {
                    push_literal(&mut nodes, &rest[..open]);
                    nodes.push(node);
                }
                None => push_literal(&mut nodes, &rest[..=close]),
            }
            rest = &rest[close + 1..];
        }
        push_literal(&mut nodes, rest);
        Self { nodes }
    }

    /// Whether the format shows `{rsize}`: measuring it means encoding the answer,
    /// which is skipped when nobody reads it.
    pub fn needs_rsize(&self) -> bool {
        self.nodes.contains(&Node::Label(Label::Rsize))
    }

    /// The log line for `entry`.
    pub fn render(&self, entry: &Entry) -> String {
        let mut out = String::with_capacity(128);
        for node in &self.nodes {
            match node {
                Node::Literal(text) => out.push_str(text),
                Node::Label(label) => append_label(&mut out, *label, entry),
                Node::Metadata(label) => out.push_str(match label.as_str() {
                    "log/type" => entry.response_type.as_str(),
                    "log/class" => entry.response_type.class().as_str(),
                    // No plugin of clusterdns sets other metadata.
                    _ => EMPTY,
                }),
            }
        }
        out
    }
}

/// Appends literal text, merging it with a literal just before.
fn push_literal(nodes: &mut Vec<Node>, text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(Node::Literal(last)) = nodes.last_mut() {
        last.push_str(text);
    } else {
        nodes.push(Node::Literal(text.to_owned()));
    }
}

fn append_label(out: &mut String, label: Label, entry: &Entry) {
    use std::fmt::Write as _;
    // Writing into a String cannot fail.
    let _ = match label {
        Label::Type => write!(out, "{}", type_name(entry.qtype)),
        Label::Name => write!(out, "{}", entry.name),
        Label::Class => write!(out, "{}", class_name(entry.qclass)),
        Label::Proto => write!(out, "{}", entry.protocol.as_str()),
        Label::Size => write!(out, "{}", entry.size),
        Label::Remote => write!(out, "{}", Rfc3986(entry.remote.ip())),
        Label::Port => write!(out, "{}", entry.remote.port()),
        Label::Local => write!(out, "{}", Rfc3986(entry.local.ip())),
        Label::Id => write!(out, "{}", entry.id),
        Label::Opcode => write!(out, "{}", u8::from(entry.opcode)),
        Label::Do => write!(out, "{}", entry.dnssec_ok),
        Label::Bufsize => write!(out, "{}", entry.bufsize),
        Label::Rcode => write!(out, "{}", rcode_name(entry.header.response_code)),
        Label::Rsize => match entry.rsize {
            Some(size) => write!(out, "{size}"),
            None => write!(out, "{EMPTY}"),
        },
        // Rust prints the shortest decimal that reads back the same value, never an
        // exponent: the same text as Go's FormatFloat(secs, 'f', -1, 64).
        Label::Duration => write!(out, "{}s", entry.duration.as_secs_f64()),
        Label::Rflags => write!(out, "{}", flags(&entry.header)),
    };
}

/// An IP address as CoreDNS prints it: IPv6 in brackets, IPv4-mapped as IPv4.
struct Rfc3986(IpAddr);

impl std::fmt::Display for Rfc3986 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.to_canonical() {
            IpAddr::V4(ip) => write!(f, "{ip}"),
            IpAddr::V6(ip) => write!(f, "[{ip}]"),
        }
    }
}

/// The answer's flags in CoreDNS's order, comma separated: `qr,aa,rd,ra`.
fn flags(header: &Metadata) -> String {
    let set = [
        (header.message_type == MessageType::Response, "qr"),
        (header.authoritative, "aa"),
        (header.truncation, "tc"),
        (header.recursion_desired, "rd"),
        (header.recursion_available, "ra"),
        (header.authentic_data, "ad"),
        (header.checking_disabled, "cd"),
    ];
    let names: Vec<&str> = set.iter().filter(|(on, _)| *on).map(|(_, n)| *n).collect();
    names.join(",")
}

/// A type's mnemonic, `TYPE<n>` for one without a name (as CoreDNS prints it).
pub(crate) fn type_name(qtype: RecordType) -> String {
    match qtype {
        RecordType::Unknown(code) => format!("TYPE{code}"),
        known => known.to_string(),
    }
}

/// A class's mnemonic, `CLASS<n>` for one without a name.
fn class_name(class: DNSClass) -> String {
    match class {
        DNSClass::Unknown(code) => format!("CLASS{code}"),
        known => known.to_string(),
    }
}

/// An rcode's mnemonic as CoreDNS prints it (`NOERROR`, `NXDOMAIN`), its number for
/// one without a name.
pub(crate) fn rcode_name(rcode: ResponseCode) -> String {
    let code = u16::from(rcode);
    let name = match code {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        16 => "BADSIG",
        17 => "BADKEY",
        18 => "BADTIME",
        19 => "BADMODE",
        20 => "BADNAME",
        21 => "BADALG",
        22 => "BADTRUNC",
        23 => "BADCOOKIE",
        _ => return code.to_string(),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests;
