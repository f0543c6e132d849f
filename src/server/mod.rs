//! DNS listeners: UDP and TCP on one address and port, serving a set of server blocks.
//!
//! - [`codec`]: decode a query, encode an answer (EDNS, truncation, error answers);
//! - `drain`: answering after SIGTERM until the queries stop;
//! - `handler`: packet → block → chain → answer, shared by both transports;
//! - `udp` + `mmsg`: the batched UDP loop, one thread per `SO_REUSEPORT` socket;
//! - `tcp`: the TCP front end;
//! - `routes`: which block serves a name;
//! - `shed`: the bounded set of queries waiting for an upstream, oldest shed first.

pub mod codec;
mod drain;
mod handler;
mod mmsg;
mod routes;
mod shed;
mod tcp;
mod udp;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use arc_swap::ArcSwap;
use clusterdns_api::metrics::Label;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use drain::{Drain, DrainOptions};
pub use handler::ListenerState;
pub use routes::{Block, Routes};
pub use tcp::TcpLimits;

use udp::UdpWorkers;

/// Which way [`answer_inline`] sends a query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestPath {
    /// As the server does: the wire path when a plugin takes the query there, else the
    /// ordinary path.
    Any,
    /// The ordinary path only (decode, chain, encode), as if no plugin took the wire
    /// path: the reference the wire path's answers are compared with.
    Ordinary,
}

/// Answers `packet` from `src` the way a UDP worker (or a TCP connection) does, without
/// a socket: decode, route, run the chain, encode into `buf`. Returns whether there is
/// an answer to send; a chain that has to wait (forwarding) is not waited for, and
/// gives `false`. For benchmarks and tests of the request path.
pub fn answer_inline(
    state: &ListenerState,
    packet: &[u8],
    src: SocketAddr,
    protocol: clusterdns_api::Protocol,
    path: RequestPath,
    buf: &mut Vec<u8>,
) -> bool {
    use std::task::{Context, Poll, Waker};
    let prepared = match path {
        RequestPath::Any => handler::prepare(state, packet, src, protocol, buf),
        RequestPath::Ordinary => {
            let start = std::time::Instant::now();
            handler::prepare_ordinary(state, packet, src, protocol, start, buf)
        }
    };
    match prepared {
        handler::Prepared::Reply => true,
        handler::Prepared::Drop => false,
        handler::Prepared::Run(mut chain) => {
            match chain.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
                Poll::Ready(job) => handler::finish(job, buf),
                Poll::Pending => false,
            }
        }
    }
}

/// How a listener runs.
#[derive(Clone, Copy, Debug)]
pub struct ListenerOptions {
    /// UDP sockets (and threads) on the port.
    pub udp_workers: usize,
    /// Queries that may wait for I/O at once, per listener; beyond it the oldest is
    /// cancelled to admit a new one.
    pub max_waiting: usize,
    /// TCP limits.
    pub tcp: TcpLimits,
}

impl Default for ListenerOptions {
    fn default() -> Self {
        Self {
            udp_workers: std::thread::available_parallelism().map_or(1, usize::from),
            max_waiting: 4096,
            tcp: TcpLimits::default(),
        }
    }
}

/// Why a listener could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}")]
pub struct ListenError {
    /// The address asked for.
    pub addr: SocketAddr,
    /// The system's reason.
    #[source]
    pub source: std::io::Error,
}

/// A running UDP + TCP listener.
pub struct DnsListener {
    state: Arc<ListenerState>,
    udp: UdpWorkers,
    tcp: JoinHandle<()>,
    stop: CancellationToken,
    udp_addr: SocketAddr,
    tcp_addr: SocketAddr,
}

impl DnsListener {
    /// Binds `ip:port` (`None`: every address, IPv6 and IPv4) for UDP and TCP, and starts
    /// serving `routes`. With port 0 both transports get the same free port.
    pub fn start(
        ip: Option<IpAddr>,
        port: u16,
        label: &str,
        routes: Arc<Routes>,
        options: ListenerOptions,
        drain: Arc<Drain>,
        runtime: &Handle,
    ) -> Result<Self, ListenError> {
        let (udp_sockets, tcp_listener) = bind_pair(ip, port, options.udp_workers)?;
        let local_of =
            |socket: &socket2::Socket| socket.local_addr().ok().and_then(|a| a.as_socket());
        let udp_addr = udp_sockets
            .first()
            .and_then(local_of)
            .unwrap_or_else(|| SocketAddr::new(ip.unwrap_or(Ipv4Addr::UNSPECIFIED.into()), port));
        let tcp_addr = tcp_listener.local_addr().unwrap_or(udp_addr);
        let state = Arc::new(ListenerState {
            server: Label::from(label),
            routes: ArcSwap::new(routes),
            local: udp_addr,
            drain,
        });
        let udp = UdpWorkers::start(
            udp_sockets,
            state.clone(),
            runtime.clone(),
            options.max_waiting,
        )
        .map_err(|source| ListenError {
            addr: udp_addr,
            source,
        })?;
        let stop = CancellationToken::new();
        let tcp = {
            let _enter = runtime.enter();
            let listener =
                tokio::net::TcpListener::from_std(tcp_listener).map_err(|source| ListenError {
                    addr: tcp_addr,
                    source,
                })?;
            runtime.spawn(tcp::serve(
                listener,
                state.clone(),
                options.tcp,
                stop.clone(),
            ))
        };
        Ok(Self {
            state,
            udp,
            tcp,
            stop,
            udp_addr,
            tcp_addr,
        })
    }

    /// The bound UDP address.
    pub fn udp_addr(&self) -> SocketAddr {
        self.udp_addr
    }

    /// The bound TCP address.
    pub fn tcp_addr(&self) -> SocketAddr {
        self.tcp_addr
    }

    /// Serves `routes` from now on; queries already running finish with the old ones.
    pub fn swap_routes(&self, routes: Arc<Routes>) {
        self.state.routes.store(routes);
    }

    /// Stops accepting and answering. UDP workers finish their current batch.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.tcp.await;
        let udp = self.udp;
        let _ = tokio::task::spawn_blocking(move || udp.stop()).await;
    }
}

/// Binds the UDP sockets and the TCP listener on the same port.
fn bind_pair(
    ip: Option<IpAddr>,
    port: u16,
    workers: usize,
) -> Result<(Vec<socket2::Socket>, std::net::TcpListener), ListenError> {
    let candidates: Vec<IpAddr> = match ip {
        Some(ip) => vec![ip],
        // Dual-stack when the host has IPv6, else IPv4 only.
        None => vec![Ipv6Addr::UNSPECIFIED.into(), Ipv4Addr::UNSPECIFIED.into()],
    };
    let mut last_error = None;
    for ip in candidates {
        // With port 0, the free UDP port may be taken for TCP: try a few.
        let attempts = if port == 0 { 20 } else { 1 };
        for _ in 0..attempts {
            match bind_once(SocketAddr::new(ip, port), workers.max(1)) {
                Ok(pair) => return Ok(pair),
                Err(error) => last_error = Some(error),
            }
        }
    }
    Err(last_error.unwrap_or_else(|| ListenError {
        addr: SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port),
        source: std::io::Error::other("no address to bind"),
    }))
}

fn bind_once(
    addr: SocketAddr,
    workers: usize,
) -> Result<(Vec<socket2::Socket>, std::net::TcpListener), ListenError> {
    let fail = |addr, source| ListenError { addr, source };
    let addr = if addr.port() == 0 {
        free_port(addr).map_err(|e| fail(addr, e))?
    } else {
        addr
    };
    let first = udp::bind_socket(addr).map_err(|e| fail(addr, e))?;
    let bound = first
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .unwrap_or(addr);
    let mut sockets = vec![first];
    for _ in 1..workers {
        sockets.push(udp::bind_socket(bound).map_err(|e| fail(bound, e))?);
    }
    let tcp = tcp::bind_listener(bound).map_err(|e| fail(bound, e))?;
    Ok((sockets, tcp))
}

/// `addr` with a port that no socket uses, for UDP or TCP. Asking the kernel for port 0
/// with SO_REUSEPORT set may give a port that other SO_REUSEPORT sockets of the same
/// user already hold, and the two servers would then share its queries. Sockets
/// without the option get a port of their own; they are closed at once, and the
/// listener binds that port (tests and tools ask for port 0, a deployment names its
/// port).
fn free_port(addr: SocketAddr) -> std::io::Result<SocketAddr> {
    use socket2::{Domain, Socket, Type};
    let probe = |kind: Type, addr: SocketAddr| -> std::io::Result<SocketAddr> {
        let socket = Socket::new(Domain::for_address(addr), kind, None)?;
        if addr.is_ipv6() {
            socket.set_only_v6(false)?;
        }
        socket.bind(&addr.into())?;
        socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| std::io::Error::other("no socket address"))
    };
    let udp = probe(Type::DGRAM, addr)?;
    probe(Type::STREAM, udp)?;
    Ok(udp)
}
