//! The small HTTP servers behind `/health`, `/ready` and `/metrics`.
//!
//! Plugins register routes with an address (`:8080`, `localhost:9153`); routes with the
//! same address share one server. Handlers are synchronous reads of state.
//!
//! # Reloads
//!
//! A reload is all or nothing, in two steps: [`HttpServers::bind_new`] binds every
//! address the new configuration names that no running server has (nothing in service
//! changes, and on error the sockets just bound are closed), then
//! [`HttpServers::commit`] gives the kept servers their new routes, starts the new ones
//! and hands back the ones no longer named, for the caller to stop. A server whose
//! address stays keeps its socket across the reload, so a probe never finds the port
//! closed. Addresses are compared by what they bind, not by spelling: `:8080`,
//! `0.0.0.0:8080` and `[::]:8080` are one server.
//!
//! # Connection pressure
//!
//! A kubelet probe that times out unreadies (or restarts) the replica, and the probe
//! ports listen on every address, so any pod can open connections to them. Each server
//! therefore keeps a [`ConnectionTable`]: a connection with no request in progress is
//! closed after [`IDLE_TIMEOUT`] (a probe sends its request at once), sooner as the
//! table fills, and at [`MAX_CONNECTIONS`] the connection idle longest is closed to
//! admit a new one. Accepting never waits.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use clusterdns_api::metrics::Label;
use clusterdns_api::{HttpHandler, HttpReply, Token};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::assemble::PlannedRoute;
use crate::connections::{Admission, ConnectionTable, TableLimits};

/// How long a connection may stay open with no request in progress: the time a client
/// has to send its request headers, and the keep-alive idle time (a scraper's
/// connection is reopened on its next scrape).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections one server keeps open: far above the few a kubelet's probes and a
/// scraper need.
pub(crate) const MAX_CONNECTIONS: usize = 1024;
/// Connections one source address may hold, so that the kubelet's probes (from the
/// node's address) always find room next to another pod's connections.
const MAX_PER_SOURCE: usize = MAX_CONNECTIONS / 2;

/// An HTTP endpoint that could not be started.
#[derive(Debug, thiserror::Error)]
#[error("{at}: cannot serve HTTP on {addr}: {source}")]
pub struct HttpError {
    /// Where the Corefile asks for it: `file:line:column` of the directive.
    pub at: String,
    /// The address as configured.
    pub addr: String,
    /// The reason.
    #[source]
    pub source: std::io::Error,
}

type Paths = BTreeMap<&'static str, HttpHandler>;

/// One running server: its address and the routes it serves, which a reload swaps.
struct HttpServer {
    /// The address as first configured (for logs).
    addr: String,
    key: BindKey,
    local: SocketAddr,
    paths: Arc<ArcSwap<Paths>>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl HttpServer {
    async fn stop(self) {
        tracing::debug!(addr = %self.addr, local = %self.local, "no longer serving HTTP");
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// Sockets bound for a new configuration, not yet serving.
pub struct NewListeners(Vec<(BindKey, String, TcpListener)>);

/// The running HTTP servers, one per address.
#[derive(Default)]
pub struct HttpServers {
    servers: Vec<HttpServer>,
}

/// Servers a reload no longer needs, stopped once the new configuration is in service.
pub struct Retired(Vec<HttpServer>);

impl Retired {
    /// Stops them.
    pub async fn stop(self) {
        for server in self.0 {
            server.stop().await;
        }
    }
}

impl HttpServers {
    /// Step one of a reload: binds every address of `routes` that no running server
    /// has. Nothing in service changes; on error the sockets bound so far are closed.
    pub fn bind_new(&self, routes: &[PlannedRoute]) -> Result<NewListeners, HttpError> {
        let mut bound: Vec<(BindKey, String, TcpListener)> = Vec::new();
        for planned in routes {
            let addr = planned.route.addr.as_str();
            let error = |source| HttpError {
                at: location(&planned.directive),
                addr: addr.to_owned(),
                source,
            };
            let key = BindKey::of(addr).map_err(error)?;
            if self.servers.iter().any(|s| s.key == key) || bound.iter().any(|(k, _, _)| *k == key)
            {
                continue;
            }
            let listener = key.bind().map_err(error)?;
            bound.push((key, addr.to_owned(), listener));
        }
        Ok(NewListeners(bound))
    }

    /// Step two: serves `routes` from now on, on the kept servers and on `new`; the
    /// servers whose address is no longer named are returned, still running.
    pub fn commit(&mut self, routes: &[PlannedRoute], new: NewListeners) -> Retired {
        let mut by_key: BTreeMap<BindKey, Paths> = BTreeMap::new();
        for planned in routes {
            // Every address was resolved by `bind_new`; one that no longer resolves is
            // served nowhere rather than failing a step that must not fail.
            let Ok(key) = BindKey::of(&planned.route.addr) else {
                continue;
            };
            by_key
                .entry(key)
                .or_default()
                .entry(planned.route.path)
                .or_insert_with(|| planned.route.handler.clone());
        }
        let mut retired = Vec::new();
        let mut kept = Vec::new();
        for server in self.servers.drain(..) {
            match by_key.remove(&server.key) {
                Some(paths) => {
                    server.paths.store(Arc::new(paths));
                    kept.push(server);
                }
                None => retired.push(server),
            }
        }
        for (key, addr, listener) in new.0 {
            let paths = by_key.remove(&key).unwrap_or_default();
            let Ok(local) = listener.local_addr() else {
                continue;
            };
            let paths = Arc::new(ArcSwap::from_pointee(paths));
            let stop = CancellationToken::new();
            let task = tokio::spawn(serve(
                listener,
                Label::from(format!("http://{addr}").as_str()),
                paths.clone(),
                stop.clone(),
            ));
            tracing::info!(%addr, %local, "serving HTTP");
            kept.push(HttpServer {
                addr,
                key,
                local,
                paths,
                stop,
                task,
            });
        }
        self.servers = kept;
        Retired(retired)
    }

    /// Each path served and the bound address serving it.
    pub fn bound(&self) -> Vec<(&'static str, SocketAddr)> {
        self.servers
            .iter()
            .flat_map(|s| {
                let local = s.local;
                s.paths
                    .load()
                    .keys()
                    .map(move |path| (*path, local))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Stops every server.
    pub async fn stop(self) {
        Retired(self.servers).stop().await;
    }
}

fn location(token: &Token) -> String {
    format!("{}:{}:{}", token.file, token.line, token.column)
}

/// Where a server listens, whatever the spelling in the Corefile: `:8080`,
/// `0.0.0.0:8080` and `[::]:8080` are all every address on port 8080, so they are one
/// server, kept across a reload that changes the spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum BindKey {
    /// Every address (dual-stack where the host has IPv6).
    Every(u16),
    /// One address.
    At(SocketAddr),
}

impl BindKey {
    /// The key of a Corefile-style address: `:PORT` is every address, `localhost:PORT`
    /// is IPv4 loopback, anything else is resolved (its first address).
    fn of(addr: &str) -> std::io::Result<Self> {
        if let Some(port) = addr.strip_prefix(':') {
            return Ok(Self::Every(parse_port(addr, port)?));
        }
        if let Some(port) = addr.strip_prefix("localhost:") {
            let port = parse_port(addr, port)?;
            return Ok(Self::At(SocketAddr::from((Ipv4Addr::LOCALHOST, port))));
        }
        let resolved = std::net::ToSocketAddrs::to_socket_addrs(addr)?
            .next()
            .ok_or_else(|| std::io::Error::other(format!("{addr:?} resolves to no address")))?;
        Ok(if resolved.ip().is_unspecified() {
            Self::Every(resolved.port())
        } else {
            Self::At(resolved)
        })
    }

    fn bind(self) -> std::io::Result<TcpListener> {
        match self {
            Self::Every(port) => bind_socket(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)))
                .or_else(|_| bind_socket(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))),
            Self::At(addr) => bind_socket(addr),
        }
    }
}

fn parse_port(addr: &str, port: &str) -> std::io::Result<u16> {
    port.parse()
        .map_err(|_| std::io::Error::other(format!("bad port in {addr:?}")))
}

/// Whether HTTP ports are shared with another process (`SO_REUSEPORT`); see
/// [`share_ports_with_successor`].
static SHARE_PORTS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Node-local mode: a new process starts on the same node while the old one still serves
/// (a DaemonSet's `maxSurge` update), on the same host addresses, so its health and
/// metrics ports must be shared as the DNS ports are. Call before [`crate::Server::start`].
pub fn share_ports_with_successor() {
    SHARE_PORTS.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// A listening socket. No `SO_REUSEPORT` (unless [`share_ports_with_successor`]): a port
/// another process (or another spelling of an address on the same port, `:8080` beside
/// `127.0.0.1:8080`) holds is an error, not a port silently shared.
fn bind_socket(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    if SHARE_PORTS.load(std::sync::atomic::Ordering::Relaxed) {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

async fn serve(
    listener: TcpListener,
    label: Label,
    paths: Arc<ArcSwap<Paths>>,
    stop: CancellationToken,
) {
    let table = ConnectionTable::new(TableLimits {
        max: MAX_CONNECTIONS,
        max_per_source: MAX_PER_SOURCE,
    });
    crate::connections::register_metrics();
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
            // Reap finished connections so the set stays as small as the table.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, say: wait rather than spin.
                tracing::debug!(%error, "HTTP accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let Some(admission) = table.admit_counted(peer.ip(), &label) else {
            continue;
        };
        connections.spawn(serve_connection(
            stream,
            admission,
            paths.clone(),
            stop.clone(),
        ));
    }
    connections.abort_all();
}

/// Serves one connection until the client closes it, it stays idle too long, the
/// table closes it to admit another, or the server stops.
async fn serve_connection(
    stream: TcpStream,
    admission: Admission,
    paths: Arc<ArcSwap<Paths>>,
    stop: CancellationToken,
) {
    let activity = admission.activity();
    let service = service_fn(move |request: Request<Incoming>| {
        activity.begin();
        let reply = match paths.load().get(request.uri().path()) {
            Some(handler) => handler(),
            None => HttpReply::text(404, "404 page not found\n"),
        };
        activity.done();
        async move { Ok::<_, Infallible>(to_response(reply)) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(IDLE_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let evicted = admission.tracked().closed().clone();
    loop {
        // While a request is in progress, look again after a while.
        let wait = admission
            .idle_remaining(IDLE_TIMEOUT)
            .unwrap_or(IDLE_TIMEOUT);
        if wait.is_zero() {
            return;
        }
        tokio::select! {
            _ = &mut connection => return,
            () = evicted.cancelled() => return,
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

fn to_response(reply: HttpReply) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    if let Ok(value) = reply.content_type.parse() {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}
