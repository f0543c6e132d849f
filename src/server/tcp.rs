//! The TCP front end: length-prefixed messages (RFC 1035 §4.2.2, RFC 7766), several
//! queries of one connection answered concurrently, bounded connections, idle timeouts.

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

/// Limits of the TCP front end.
#[derive(Clone, Copy, Debug)]
pub struct TcpLimits {
    /// Open connections at once; more are closed at accept.
    pub max_connections: usize,
    /// Queries of one connection answered at once (RFC 7766 pipelining).
    pub max_pipelined: usize,
    /// A connection with no new query for this long is closed.
    pub idle_timeout: Duration,
}

impl Default for TcpLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
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

/// Accepts connections until `stop` is cancelled.
pub async fn serve(
    listener: TcpListener,
    state: Arc<ListenerState>,
    limits: TcpLimits,
    stop: CancellationToken,
) {
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
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
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "too many TCP connections; closing a new one");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (reader, writer) = stream.into_split();
        let state = state.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            serve_connection(reader, writer, peer, state, limits, stop).await;
            drop(permit);
        });
    }
}

async fn serve_connection(
    mut reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    peer: SocketAddr,
    state: Arc<ListenerState>,
    limits: TcpLimits,
    stop: CancellationToken,
) {
    let (answers, queue) = mpsc::channel::<Vec<u8>>(limits.max_pipelined);
    let writing = tokio::spawn(write_answers(writer, queue, limits.idle_timeout));
    let pipeline = Arc::new(Semaphore::new(limits.max_pipelined));
    loop {
        let frame = tokio::select! {
            () = stop.cancelled() => break,
            frame = tokio::time::timeout(limits.idle_timeout, read_frame(&mut reader)) => frame,
        };
        let Ok(Some(packet)) = frame else {
            break; // idle, closed, or a broken frame
        };
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
            Prepared::Drop => {}
            Prepared::Run(chain) => {
                let answers = answers.clone();
                tokio::spawn(async move {
                    let job = chain.await;
                    if finish(job, &mut buf) {
                        let _ = answers.send(buf).await;
                    }
                    drop(permit);
                });
            }
        }
    }
    drop(answers);
    let _ = writing.await;
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
) {
    let mut frame = Vec::with_capacity(514);
    while let Some(answer) = queue.recv().await {
        let Ok(len) = u16::try_from(answer.len()) else {
            continue;
        };
        frame.clear();
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(&answer);
        match tokio::time::timeout(timeout, writer.write_all(&frame)).await {
            Ok(Ok(())) => {}
            _ => return,
        }
    }
    let _ = writer.shutdown().await;
}
