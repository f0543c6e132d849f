//! One question to one upstream over UDP or TCP, and which replies are accepted.
//!
//! A reply is accepted only if its ID, question name (ignoring case), type and class
//! all match what was asked and it is a response; anything else on the socket
//! (spoofed or stale replies, garbage) is skipped and the wait goes on until the
//! attempt's deadline. IDs come from a CSPRNG (`rand::random`, backed by the
//! thread-local ChaCha generator) and every UDP query gets a socket of its own, so an
//! ephemeral source port picked by the kernel.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use clusterdns_api::Ctx;
use clusterdns_api::proto::op::{Edns, Message, MessageType, OpCode, Query};
use clusterdns_api::proto::rr::{Name, RecordType};
use clusterdns_api::wire::policy::HOP_BY_HOP_OPTIONS;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, timeout_at};
use tokio_rustls::client::TlsStream;

use crate::tls::TlsTarget;

/// The EDNS payload size advertised upstream (DNS Flag Day 2020).
pub(crate) const EDNS_PAYLOAD: u16 = clusterdns_api::wire::MAX_UDP_PAYLOAD;

/// The largest UDP datagram read: well above the 1232 bytes advertised, and small
/// enough that thousands of queries in flight cost little. A reply that fills it may
/// have been cut, and is asked again over TCP.
const UDP_BUFFER: usize = 4096;

/// Why an exchange gave no answer. The texts are part of the interface: they end the
/// error a failed query logs (`upstream ADDR over PROTO: TEXT`), which the `errors`
/// plugin's `consolidate` patterns match.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// No acceptable reply before the deadline.
    #[error("no answer within {}ms", .0.as_millis())]
    Timeout(Duration),
    /// A socket error (connection refused, unreachable, ...).
    #[error("{0}")]
    Io(#[source] io::Error),
    /// The upstream closed the TCP connection before answering.
    #[error("connection closed by the upstream")]
    Closed,
    /// A UDP reply with the query's ID filled the whole receive buffer: it may have
    /// been cut, so it must be asked again over TCP.
    #[error("UDP answer larger than {UDP_BUFFER} bytes")]
    Oversized,
    /// The query could not be encoded.
    #[error("cannot encode the query: {0}")]
    Encode(#[source] clusterdns_api::proto::ProtoError),
    /// The encoded query is shorter than a header or longer than a TCP frame.
    #[error("cannot encode the query: unexpected size {0}")]
    Size(usize),
    /// The upstream's `upstream_rate` budget is spent: it was not asked.
    #[error("over its budget of {0} queries/s")]
    OverBudget(u32),
}

/// A query ready to be sent, with a fresh ID for each attempt.
#[derive(Clone, Debug)]
pub(crate) struct Outgoing {
    /// The encoded query; its first two bytes (the ID) are replaced on every send.
    template: Vec<u8>,
    /// The question, to check replies against.
    pub query: Query,
    /// The EDNS options sent, in wire form (code, length, data each): part of what
    /// makes two queries the same to an upstream (an answer for one client subnet is
    /// not the answer for another).
    pub options: Vec<u8>,
}

impl Outgoing {
    /// The client's question as it wrote it (case kept), with its RD, CD and AD bits,
    /// and an OPT record advertising [`EDNS_PAYLOAD`] with the client's DO bit and
    /// the request's EDNS options (as `rewrite edns0` left them), but for the
    /// [hop-by-hop ones](HOP_BY_HOP_OPTIONS).
    pub fn from_ctx(ctx: &Ctx) -> Result<Self, ExchangeError> {
        let mut message = Message::new(0, MessageType::Query, ctx.metadata.op_code);
        message.metadata.recursion_desired = ctx.metadata.recursion_desired;
        message.metadata.checking_disabled = ctx.metadata.checking_disabled;
        message.metadata.authentic_data = ctx.metadata.authentic_data;
        message.add_query(ctx.query.clone());
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        edns.set_dnssec_ok(ctx.dnssec_ok());
        let mut options = Vec::new();
        let carried = ctx.edns.iter().flat_map(|e| e.options().as_ref());
        for (code, option) in carried {
            let code = u16::from(*code);
            if HOP_BY_HOP_OPTIONS.contains(&code) {
                continue;
            }
            let data = Vec::<u8>::try_from(option).map_err(ExchangeError::Encode)?;
            options.extend_from_slice(&code.to_be_bytes());
            let len = u16::try_from(data.len()).map_err(|_| ExchangeError::Size(data.len()))?;
            options.extend_from_slice(&len.to_be_bytes());
            options.extend_from_slice(&data);
            edns.options_mut().insert(option.clone());
        }
        message.set_edns(edns);
        let mut outgoing = Self::encode(&message, ctx.query.clone())?;
        outgoing.options = options;
        Ok(outgoing)
    }

    /// A health check: `DOMAIN IN NS`, RD as asked, no EDNS.
    pub fn health_check(domain: &Name, recursion_desired: bool) -> Result<Self, ExchangeError> {
        let query = Query::query(domain.clone(), RecordType::NS);
        let mut message = Message::new(0, MessageType::Query, OpCode::Query);
        message.metadata.recursion_desired = recursion_desired;
        message.add_query(query.clone());
        Self::encode(&message, query)
    }

    fn encode(message: &Message, query: Query) -> Result<Self, ExchangeError> {
        let template = message.to_vec().map_err(ExchangeError::Encode)?;
        if template.len() < 12 || template.len() > usize::from(u16::MAX) {
            return Err(ExchangeError::Size(template.len()));
        }
        Ok(Self {
            template,
            query,
            options: Vec::new(),
        })
    }

    /// The query's bytes with a new random ID, and that ID.
    pub fn packet(&self) -> (Vec<u8>, u16) {
        let id: u16 = rand::random();
        let mut packet = self.template.clone();
        packet[..2].copy_from_slice(&id.to_be_bytes());
        (packet, id)
    }
}

/// Decodes `bytes` if they are the reply to query `id` asking `query`.
pub(crate) fn accept(bytes: &[u8], id: u16, query: &Query) -> Option<Message> {
    if bytes.len() < 12 || u16::from_be_bytes([bytes[0], bytes[1]]) != id {
        return None;
    }
    let message = Message::from_vec(bytes).ok()?;
    if message.metadata.message_type != MessageType::Response {
        return None;
    }
    match message.queries.as_slice() {
        [question]
            if question.query_type() == query.query_type()
                && question.query_class() == query.query_class()
                && question.name().eq_ignore_root(query.name()) =>
        {
            Some(message)
        }
        _ => None,
    }
}

/// Asks `outgoing` of `addr` over UDP from a fresh socket, waiting until `deadline`.
pub(crate) async fn udp(
    addr: SocketAddr,
    outgoing: &Outgoing,
    deadline: Instant,
    timeout: Duration,
) -> Result<Message, ExchangeError> {
    let local: SocketAddr = if addr.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await.map_err(ExchangeError::Io)?;
    // A connected socket: the kernel drops datagrams from any other address.
    socket.connect(addr).await.map_err(ExchangeError::Io)?;
    let (packet, id) = outgoing.packet();
    timeout_at(deadline, socket.send(&packet))
        .await
        .map_err(|_| ExchangeError::Timeout(timeout))?
        .map_err(ExchangeError::Io)?;
    let mut buf = vec![0u8; UDP_BUFFER];
    loop {
        let len = timeout_at(deadline, socket.recv(&mut buf))
            .await
            .map_err(|_| ExchangeError::Timeout(timeout))?
            .map_err(ExchangeError::Io)?;
        if len == buf.len() && buf[..2] == id.to_be_bytes() {
            return Err(ExchangeError::Oversized);
        }
        if let Some(reply) = accept(&buf[..len], id, &outgoing.query) {
            return Ok(reply);
        }
        tracing::debug!(upstream = %addr, len, "forward: ignoring a UDP reply that does not match the query");
    }
}

/// A connection to an upstream: plain TCP, or TLS over TCP.
pub(crate) enum Conn {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tcp(_) => "Conn::Tcp",
            Self::Tls(_) => "Conn::Tls",
        })
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(stream) => Pin::new(stream).poll_read(cx, buf),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(stream) => Pin::new(stream).poll_write(cx, buf),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(stream) => Pin::new(stream).poll_flush(cx),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(stream) => Pin::new(stream).poll_shutdown(cx),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Opens a TCP connection to `addr`, with a TLS handshake on it when `tls` says, giving
/// up at `deadline`.
pub(crate) async fn connect(
    addr: SocketAddr,
    tls: Option<&TlsTarget>,
    deadline: Instant,
    timeout: Duration,
) -> Result<Conn, ExchangeError> {
    let stream = timeout_at(deadline, TcpStream::connect(addr))
        .await
        .map_err(|_| ExchangeError::Timeout(timeout))?
        .map_err(ExchangeError::Io)?;
    // Queries are small and written at once: do not wait for more.
    let _ = stream.set_nodelay(true);
    let Some(tls) = tls else {
        return Ok(Conn::Tcp(stream));
    };
    let stream = timeout_at(
        deadline,
        tls.connector.connect(tls.server_name.clone(), stream),
    )
    .await
    .map_err(|_| ExchangeError::Timeout(timeout))?
    .map_err(|e| ExchangeError::Io(io::Error::new(e.kind(), format!("TLS handshake: {e}"))))?;
    Ok(Conn::Tls(Box::new(stream)))
}

/// Asks `outgoing` over an open stream (TCP framing: a two-byte length before each
/// message), waiting until `deadline`.
pub(crate) async fn over_stream<S>(
    stream: &mut S,
    outgoing: &Outgoing,
    deadline: Instant,
    timeout: Duration,
) -> Result<Message, ExchangeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (packet, id) = outgoing.packet();
    let len = u16::try_from(packet.len()).map_err(|_| ExchangeError::Size(packet.len()))?;
    let mut framed = Vec::with_capacity(packet.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(&packet);
    let timed_out = |_| ExchangeError::Timeout(timeout);
    timeout_at(deadline, async {
        stream.write_all(&framed).await?;
        stream.flush().await
    })
    .await
    .map_err(timed_out)?
    .map_err(closed_or_io)?;
    loop {
        let len = timeout_at(deadline, stream.read_u16())
            .await
            .map_err(timed_out)?
            .map_err(closed_or_io)?;
        let mut buf = vec![0u8; usize::from(len)];
        timeout_at(deadline, stream.read_exact(&mut buf))
            .await
            .map_err(timed_out)?
            .map_err(ExchangeError::Io)?;
        if let Some(reply) = accept(&buf, id, &outgoing.query) {
            return Ok(reply);
        }
        tracing::debug!(
            len,
            "forward: ignoring a TCP reply that does not match the query"
        );
    }
}

/// A closed connection is told apart, so that a stale cached one can be replaced.
fn closed_or_io(error: io::Error) -> ExchangeError {
    match error.kind() {
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => ExchangeError::Closed,
        _ => ExchangeError::Io(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusterdns_api::Protocol;

    fn ctx(name: &str) -> Ctx {
        let query = Query::query(Name::from_ascii(name).unwrap(), RecordType::A);
        Ctx::new(query, "127.0.0.1:5000".parse().unwrap(), Protocol::Udp)
    }

    fn reply_to(packet: &[u8], edit: impl FnOnce(&mut Message)) -> Vec<u8> {
        let mut message = Message::from_vec(packet).unwrap();
        message.metadata.message_type = MessageType::Response;
        message.edns = None;
        edit(&mut message);
        message.to_vec().unwrap()
    }

    #[test]
    fn queries_keep_the_question_and_ask_with_edns() {
        let mut ctx = ctx("WWW.Example.org.");
        ctx.metadata.checking_disabled = true;
        let mut edns = Edns::new();
        edns.set_dnssec_ok(true);
        edns.set_max_payload(4096);
        ctx.edns = Some(edns);
        let outgoing = Outgoing::from_ctx(&ctx).unwrap();
        let (first, first_id) = outgoing.packet();
        let (_, second_id) = outgoing.packet();
        let (_, third_id) = outgoing.packet();
        assert!(first_id != second_id || second_id != third_id, "IDs vary");
        let message = Message::from_vec(&first).unwrap();
        assert_eq!(message.metadata.id, first_id);
        assert!(message.metadata.recursion_desired);
        assert!(message.metadata.checking_disabled);
        assert_eq!(message.queries[0].name().to_ascii(), "WWW.Example.org.");
        let edns = message.edns.unwrap();
        assert_eq!(edns.max_payload(), EDNS_PAYLOAD);
        assert!(edns.flags().dnssec_ok);
    }

    #[test]
    fn queries_carry_the_requests_options_but_the_hop_by_hop_ones() {
        use clusterdns_api::proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};
        let mut ctx = ctx("www.example.org.");
        let mut edns = Edns::new();
        let subnet = ClientSubnet::new("10.1.2.0".parse().unwrap(), 24, 0);
        edns.options_mut().insert(EdnsOption::Subnet(subnet));
        edns.options_mut()
            .insert(EdnsOption::Unknown(10, vec![1, 2, 3, 4, 5, 6, 7, 8]));
        edns.options_mut()
            .insert(EdnsOption::Unknown(0xffee, b"abcd".to_vec()));
        edns.options_mut()
            .insert(EdnsOption::Unknown(12, vec![0; 4]));
        ctx.edns = Some(edns);
        let outgoing = Outgoing::from_ctx(&ctx).unwrap();
        let (packet, _) = outgoing.packet();
        let sent = Message::from_vec(&packet).unwrap().edns.unwrap();
        assert_eq!(sent.max_payload(), EDNS_PAYLOAD);
        let codes: Vec<u16> = sent
            .options()
            .as_ref()
            .iter()
            .map(|(code, _)| u16::from(*code))
            .collect();
        assert_eq!(codes, [8, 0xffee], "cookie and padding stay here");
        assert_eq!(
            sent.option(EdnsCode::Subnet),
            Some(&EdnsOption::Subnet(subnet))
        );
        assert_eq!(
            sent.option(EdnsCode::from(0xffee)),
            Some(&EdnsOption::Unknown(0xffee, b"abcd".to_vec()))
        );
        assert_eq!(
            outgoing.options,
            [
                0, 8, 0, 7, 0, 1, 24, 0, 10, 1, 2, 0xff, 0xee, 0, 4, b'a', b'b', b'c', b'd'
            ],
            "the options in wire form, for the coalescing key"
        );
        // Without options the key part is empty.
        let plain = Outgoing::from_ctx(&self::ctx("www.example.org.")).unwrap();
        assert!(plain.options.is_empty());
    }

    #[test]
    fn accepts_only_the_matching_reply() {
        let outgoing = Outgoing::from_ctx(&ctx("www.example.org.")).unwrap();
        let (packet, id) = outgoing.packet();
        let good = reply_to(&packet, |m| {
            m.queries[0] =
                Query::query(Name::from_ascii("WwW.EXAMPLE.org.").unwrap(), RecordType::A);
        });
        assert!(
            accept(&good, id, &outgoing.query).is_some(),
            "case is ignored"
        );
        assert!(
            accept(&good, id.wrapping_add(1), &outgoing.query).is_none(),
            "wrong ID"
        );
        let not_a_response = reply_to(&packet, |m| m.metadata.message_type = MessageType::Query);
        assert!(accept(&not_a_response, id, &outgoing.query).is_none());
        let other_name = reply_to(&packet, |m| {
            m.queries[0] = Query::query(Name::from_ascii("evil.example.").unwrap(), RecordType::A);
        });
        assert!(accept(&other_name, id, &outgoing.query).is_none());
        let other_type = reply_to(&packet, |m| {
            m.queries[0] = Query::query(
                Name::from_ascii("www.example.org.").unwrap(),
                RecordType::AAAA,
            );
        });
        assert!(accept(&other_type, id, &outgoing.query).is_none());
        let no_question = reply_to(&packet, |m| m.queries.clear());
        assert!(accept(&no_question, id, &outgoing.query).is_none());
        assert!(accept(&good[..11], id, &outgoing.query).is_none());
        let mut garbage = good.clone();
        garbage.truncate(20);
        assert!(accept(&garbage, id, &outgoing.query).is_none());
    }

    #[test]
    fn health_checks_ask_ns_of_the_domain() {
        let outgoing = Outgoing::health_check(&Name::root(), false).unwrap();
        let (packet, _) = outgoing.packet();
        let message = Message::from_vec(&packet).unwrap();
        assert!(!message.metadata.recursion_desired);
        assert_eq!(message.queries[0].query_type(), RecordType::NS);
        assert!(message.queries[0].name().is_root());
        assert!(message.edns.is_none());
    }
}
