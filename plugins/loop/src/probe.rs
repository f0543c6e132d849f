//! Sending the probe to our own listener.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clusterdns_api::proto::op::{Message, MessageType, OpCode, Query};
use clusterdns_api::proto::rr::{Name, RecordType};
use tokio::net::UdpSocket;

/// How long to keep trying to get one probe through (CoreDNS: 30 s).
const PROBE_WINDOW: Duration = Duration::from_secs(30);
/// How long detection stays on after the probe got an answer.
const GRACE: Duration = Duration::from_secs(2);
/// How long to wait for each probe's answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A wildcard listen address, as something we can send to.
pub(crate) fn loopback(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

/// Sends the probe until one exchange completes (any answer, SERVFAIL included) or the
/// window closes, then marks probing as done two seconds later. A loop is detected by the plugin as the probe passes
/// through it, not here.
pub(crate) async fn run(target: SocketAddr, probe: Name, done: Arc<AtomicBool>) {
    let started = Instant::now();
    while started.elapsed() < PROBE_WINDOW && !done.load(Ordering::Relaxed) {
        match exchange(target, &probe).await {
            Ok(()) => {
                // Let copies of the probe that are still going around arrive.
                tokio::time::sleep(GRACE).await;
                break;
            }
            Err(error) => {
                tracing::debug!(%error, "plugin/loop: probe got no answer yet");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    done.store(true, Ordering::Relaxed);
}

async fn exchange(target: SocketAddr, probe: &Name) -> std::io::Result<()> {
    let bind: SocketAddr = if target.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(bind).await?;
    let mut message = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(probe.clone(), RecordType::HINFO));
    let bytes = message.to_vec().map_err(std::io::Error::other)?;
    socket.send_to(&bytes, target).await?;
    let mut buf = [0u8; 512];
    tokio::time::timeout(PROBE_TIMEOUT, socket.recv_from(&mut buf))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "probe timed out"))??;
    Ok(())
}
