//! The UDP front end: one `SO_REUSEPORT` socket per worker thread, batched receive and
//! send, and answers computed inline.
//!
//! A worker receives up to 32 queries with one call, runs each query's chain future
//! once with a no-op waker, and sends every answer that is ready with one call.
//! Cluster-zone and cached answers complete on that first poll, so they cost no task,
//! no channel and no extra system call. A query that must wait (forwarding) is moved,
//! as it is, to the tokio runtime, which finishes it and replies on the same socket;
//! how many may wait at once is bounded, and beyond the bound the oldest waiting query
//! is cancelled to admit the new one (`shed`), rather than queued without limit.
//!
//! A socket bound to a wildcard address learns each query's destination address
//! (`IP_PKTINFO` / `IPV6_PKTINFO`) and answers from it, on both send paths: on a host
//! with several addresses the kernel's choice for the route back may be another one,
//! and clients drop such answers.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::Duration;

use clusterdns_api::Protocol;
use socket2::{Domain, Socket, Type};
use tokio::runtime::Handle;

use super::handler::{ChainFuture, ListenerState, Prepared, finish, prepare};
use super::mmsg::{self, PacketInfo, RecvBatch, SendBatch};
use super::shed::WaitingSet;

/// Socket buffer size asked of the kernel: deep enough to absorb bursts while a worker
/// is busy (the kernel caps it at `net.core.rmem_max`).
const SOCKET_BUFFER: usize = 4 << 20;
/// How often a blocked worker wakes to check for shutdown.
const WAKE_INTERVAL: Duration = Duration::from_millis(200);

/// Creates a UDP socket bound to `addr`, shareable with other workers on the same port.
/// On a wildcard address it reports each datagram's destination, to answer from it.
pub fn bind_socket(addr: SocketAddr) -> std::io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    if addr.ip().is_unspecified() {
        mmsg::enable_packet_info(&socket, addr.is_ipv6())?;
    }
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    // Best effort: a smaller buffer still works.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket.bind(&addr.into())?;
    socket.set_read_timeout(Some(WAKE_INTERVAL))?;
    Ok(socket)
}

/// The worker threads of one UDP listener.
pub struct UdpWorkers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl UdpWorkers {
    /// Starts one worker per socket.
    pub fn start(
        sockets: Vec<Socket>,
        state: Arc<ListenerState>,
        runtime: Handle,
        max_waiting: usize,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let waiting = WaitingSet::new(max_waiting, state.server.clone());
        let mut threads = Vec::with_capacity(sockets.len());
        for (i, socket) in sockets.into_iter().enumerate() {
            let worker = Worker {
                socket: Arc::new(socket),
                state: state.clone(),
                runtime: runtime.clone(),
                stop: stop.clone(),
                waiting: waiting.clone(),
            };
            threads.push(
                std::thread::Builder::new()
                    .name(format!("udp-{}-{i}", state.local.port()))
                    .spawn(move || worker.run())?,
            );
        }
        Ok(Self { stop, threads })
    }

    /// Stops the workers and waits for them (at most one wake interval).
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

struct Worker {
    socket: Arc<Socket>,
    state: Arc<ListenerState>,
    runtime: Handle,
    stop: Arc<AtomicBool>,
    waiting: Arc<WaitingSet>,
}

impl Worker {
    fn run(self) {
        // Plugins polled inline may use tokio timers and sockets.
        let _runtime = self.runtime.enter();
        let mut cx = Context::from_waker(Waker::noop());
        let fd = self.socket.as_raw_fd();
        let mut incoming = RecvBatch::new();
        let mut outgoing = SendBatch::new();
        while !self.stop.load(Ordering::Relaxed) {
            let n = match incoming.recv(fd) {
                Ok(n) => n,
                Err(err) => {
                    if !matches!(
                        err.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) {
                        tracing::warn!(%err, "UDP receive failed");
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    continue;
                }
            };
            self.answer(&incoming, n, &mut outgoing, &mut cx);
        }
        // Answer what is already queued on the socket before it closes. Another process
        // may share the port (SO_REUSEPORT, an in-place restart): it receives every new
        // datagram once this socket is closed, but the ones queued here would be lost.
        if self.socket.set_nonblocking(true).is_ok() {
            while let Ok(n) = incoming.recv(fd) {
                if n == 0 {
                    break;
                }
                self.answer(&incoming, n, &mut outgoing, &mut cx);
            }
        }
    }

    /// Answers the first `n` datagrams of `incoming`.
    fn answer(
        &self,
        incoming: &RecvBatch,
        n: usize,
        outgoing: &mut SendBatch,
        cx: &mut Context<'_>,
    ) {
        let fd = self.socket.as_raw_fd();
        for i in 0..n {
            let Some(datagram) = incoming.get(i) else {
                continue;
            };
            let (client, local) = (datagram.client, datagram.local);
            let buf = outgoing.next_buf();
            match prepare(&self.state, datagram.packet, client, Protocol::Udp, buf) {
                Prepared::Reply => outgoing.commit(client, local),
                Prepared::Drop => {}
                Prepared::Run(mut chain) => match chain.as_mut().poll(cx) {
                    Poll::Ready(job) => {
                        if finish(job, buf) {
                            outgoing.commit(client, local);
                        }
                    }
                    Poll::Pending => self.wait_in_runtime(chain, client, local),
                },
            }
            if outgoing.is_full() {
                outgoing.send(fd);
            }
        }
        outgoing.send(fd);
    }

    /// Hands a query that must wait to the runtime, in the bounded waiting set (which
    /// cancels its oldest query when full). The answer goes to `client`, from `local`
    /// (where the client sent the query).
    fn wait_in_runtime(&self, chain: ChainFuture, client: SocketAddr, local: Option<PacketInfo>) {
        let socket = self.socket.clone();
        self.waiting.spawn(&self.runtime, async move {
            let job = chain.await;
            let mut buf = Vec::with_capacity(512);
            if finish(job, &mut buf) {
                let _ = mmsg::send_one(&socket, &buf, client, local.as_ref());
            }
        });
    }
}
