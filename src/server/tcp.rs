//! The TCP front end: length-prefixed messages (RFC 1035 §4.2.2, RFC 7766), several
//! queries of one connection answered concurrently, bounded connections, idle timeouts.
//!
//! Under connection pressure (RFC 7766 §6.2.3) new clients are still served: the
//! [`ConnectionTable`] closes the connection idle longest to admit a new one, no source
//! address holds more than its share, and idle timeouts shorten as the table fills.
//! TCP is where truncated answers go, so one client holding every connection would
//! break large answers for everyone.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clusterdns_api::Protocol;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::handler::{ListenerState, Prepared, finish, prepare};
use crate::connections::{Admission, ConnectionTable, TableLimits};

/// Limits of the TCP front end.
#[derive(Clone, Copy, Debug)]
pub struct TcpLimits {
    /// Open connections at once. A new connection beyond it closes the one idle
    /// longest (one with no query in progress); when every one is busy, the new one is
    /// closed.
    pub max_connections: usize,
    /// Open connections one source address may hold; beyond it a new connection from
    /// that address closes its own idle-longest one. Keep it well above what one
    /// well-behaved client opens: a node-local cache or a NAT gateway is one address
    /// for many pods.
    pub max_per_source: usize,
    /// Queries of one connection answered at once (RFC 7766 pipelining).
    pub max_pipelined: usize,
    /// A connection with no new query for this long is closed, while at most half of
    /// `max_connections` are open; beyond that the timeout shortens in proportion to
    /// the room left, down to a twentieth of it.
    pub idle_timeout: Duration,
}

impl Default for TcpLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_per_source: 256,
            max_pipelined: 16,
            idle_timeout: Duration::from_secs(10),
        }
    }
}

/// Creates a TCP listener bound to `addr`, shareable on the port (for reloads).
pub fn bind_listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// After `stop`, how long a connection still waits for a query before it is closed.
/// Another process may share the port (SO_REUSEPORT, an in-place restart): a query sent
/// on a connection this one accepted, or one waiting in its accept queue, would
/// otherwise be lost when the listener closes.
const LAST_CALL: Duration = Duration::from_millis(200);

/// Accepts connections until `stop` is cancelled; then accepts those already waiting,
/// closes the listener, and returns once every connection has had its last call.
pub async fn serve(
    listener: TcpListener,
    state: Arc<ListenerState>,
    limits: TcpLimits,
    stop: CancellationToken,
) {
    let table = ConnectionTable::new(TableLimits {
        max: limits.max_connections,
        max_per_source: limits.max_per_source,
    });
    crate::connections::register_metrics();
    // One clone per connection task: the count of connections still open.
    let live = Arc::new(());
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => {
                // Polled before its zero timeout: only connections already waiting.
                match tokio::time::timeout(Duration::ZERO, listener.accept()).await {
                    Ok(accepted) => accepted,
                    Err(_) => break,
                }
            }
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::debug!(%err, "TCP accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let Some(admission) = table.admit_counted(peer.ip(), &state.server) else {
            tracing::debug!(%peer, "every TCP connection is busy; closing a new one");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (reader, writer) = stream.into_split();
        let state = state.clone();
        let stop = stop.clone();
        let live = live.clone();
        tokio::spawn(async move {
            serve_connection(reader, writer, peer, state, limits, admission, stop).await;
            drop(live);
        });
    }
    drop(listener);
    let deadline = tokio::time::Instant::now() + LAST_CALL * 2;
    while Arc::strong_count(&live) > 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn serve_connection(
    mut reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    peer: SocketAddr,
    state: Arc<ListenerState>,
    limits: TcpLimits,
    admission: Admission,
    stop: CancellationToken,
) {
    let (answers, queue) = mpsc::channel::<Vec<u8>>(limits.max_pipelined);
    let writing = tokio::spawn(write_answers(
        writer,
        queue,
        limits.idle_timeout,
        admission.activity(),
    ));
    let pipeline = Arc::new(Semaphore::new(limits.max_pipelined));
    let evicted = admission.tracked().closed().clone();
    loop {
        let idle = if stop.is_cancelled() {
            LAST_CALL
        } else {
            admission.idle_timeout(limits.idle_timeout)
        };
        let frame = tokio::select! {
            // From now on the last call's shorter wait.
            () = stop.cancelled(), if !stop.is_cancelled() => continue,
            () = evicted.cancelled() => break,
            frame = tokio::time::timeout(idle, read_frame(&mut reader)) => frame,
        };
        let Ok(Some(packet)) = frame else {
            break; // idle, closed, or a broken frame
        };
        admission.begin();
        let Ok(permit) = pipeline.clone().acquire_owned().await else {
            break;
        };
        let mut buf = Vec::with_capacity(512);
        match prepare(&state, &packet, peer, Protocol::Tcp, &mut buf) {
            Prepared::Reply => {
                if answers.send(buf).await.is_err() {
                    break;
                }
            }
            Prepared::Drop => admission.done(),
            Prepared::Run(chain) => {
                let answers = answers.clone();
                let done = admission.activity();
                tokio::spawn(async move {
                    let job = chain.await;
                    if finish(job, &mut buf) {
                        let _ = answers.send(buf).await;
                    } else {
                        done.done();
                    }
                    drop(permit);
                });
            }
        }
    }
    drop(answers);
    let _ = writing.await;
    drop(admission);
}

/// Reads one length-prefixed message; `None` at end of stream or on a zero length.
async fn read_frame(reader: &mut OwnedReadHalf) -> Option<Vec<u8>> {
    let len = reader.read_u16().await.ok()?;
    if len == 0 {
        return None;
    }
    let mut packet = vec![0u8; usize::from(len)];
    reader.read_exact(&mut packet).await.ok()?;
    Some(packet)
}

/// Writes answers as they come, each with its length prefix in the same write.
async fn write_answers(
    mut writer: OwnedWriteHalf,
    mut queue: mpsc::Receiver<Vec<u8>>,
    timeout: Duration,
    done: crate::connections::Activity,
) {
    let mut frame = Vec::with_capacity(514);
    while let Some(answer) = queue.recv().await {
        let Ok(len) = u16::try_from(answer.len()) else {
            done.done();
            continue;
        };
        frame.clear();
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(&answer);
        let written = tokio::time::timeout(timeout, writer.write_all(&frame)).await;
        done.done();
        if !matches!(written, Ok(Ok(()))) {
            return;
        }
    }
    let _ = writer.shutdown().await;
}
