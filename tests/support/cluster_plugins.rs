//! Helpers for the tests of the plugins that read the cluster (`dns64`, `k8s_external`,
//! `autopath`): distribution Corefiles made runnable on loopback, questions asked from a
//! chosen client address, records as one line each.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::{RData, Record};
use tokio::net::UdpSocket;

/// `corefile` with each `(from, to)` replaced once; panics when `from` is not there, so
/// that a changed example file cannot silently stop being what the test runs.
pub fn adapt(corefile: &str, replacements: &[(&str, &str)]) -> String {
    let mut out = corefile.to_owned();
    for (from, to) in replacements {
        assert!(
            out.contains(from),
            "{from:?} is not in the Corefile:\n{out}"
        );
        out = out.replacen(from, to, 1);
    }
    out
}

/// Asks `server` over UDP from a socket bound to `local` (an address and port 0).
pub async fn udp_from(local: &str, server: SocketAddr, message: &Message) -> Message {
    let socket = UdpSocket::bind(local).await.expect("bind the client");
    socket
        .send_to(&message.to_vec().expect("encode"), server)
        .await
        .expect("send");
    let mut buf = vec![0u8; 65535];
    let (len, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
        .await
        .expect("an answer within 5s")
        .expect("receive");
    let answer = Message::from_vec(&buf[..len]).expect("a decodable answer");
    assert_eq!(answer.metadata.id, message.metadata.id);
    answer
}

/// A record as `owner ttl TYPE rdata`, an SOA's serial as `*`.
pub fn line(record: &Record) -> String {
    let data = match &record.data {
        RData::SOA(soa) => format!(
            "{} {} * {} {} {} {}",
            soa.mname, soa.rname, soa.refresh, soa.retry, soa.expire, soa.minimum
        ),
        other => other.to_string(),
    };
    format!(
        "{} {} {} {}",
        record.name,
        record.ttl,
        record.record_type(),
        data
    )
}

/// Every record of a section, as [`line`]s.
pub fn lines(records: &[Record]) -> Vec<String> {
    records.iter().map(line).collect()
}
