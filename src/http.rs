//! The small HTTP servers behind `/health`, `/ready` and `/metrics`.
//!
//! Plugins register routes with an address (`:8080`, `localhost:9153`); routes with the
//! same address share one server. Handlers are synchronous reads of state.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use clusterdns_api::{HttpHandler, HttpReply, HttpRoute};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// An HTTP endpoint that could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot serve HTTP on {addr}: {source}")]
pub struct HttpError {
    /// The address as configured.
    pub addr: String,
    /// The reason.
    #[source]
    pub source: std::io::Error,
}

/// The running HTTP servers.
pub struct HttpServers {
    bound: Vec<(String, &'static str, SocketAddr)>,
    stop: CancellationToken,
    tasks: JoinSet<()>,
}

impl HttpServers {
    /// Binds one server per distinct address and serves the routes.
    pub async fn start(routes: &[HttpRoute]) -> Result<Self, HttpError> {
        let mut by_addr: BTreeMap<&str, BTreeMap<&'static str, HttpHandler>> = BTreeMap::new();
        for route in routes {
            by_addr
                .entry(route.addr.as_str())
                .or_default()
                .entry(route.path)
                .or_insert_with(|| route.handler.clone());
        }
        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let mut bound = Vec::new();
        for (addr, paths) in by_addr {
            let listener = bind(addr).await.map_err(|source| HttpError {
                addr: addr.to_owned(),
                source,
            })?;
            let local = listener.local_addr().map_err(|source| HttpError {
                addr: addr.to_owned(),
                source,
            })?;
            for path in paths.keys() {
                bound.push((addr.to_owned(), *path, local));
            }
            tasks.spawn(serve(listener, paths, stop.clone()));
        }
        Ok(Self { bound, stop, tasks })
    }

    /// Each path served and the bound address serving it.
    pub fn bound(&self) -> Vec<(&'static str, SocketAddr)> {
        self.bound
            .iter()
            .map(|(_, path, addr)| (*path, *addr))
            .collect()
    }

    /// Stops every server.
    pub async fn stop(mut self) {
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Binds a Corefile-style address: `:PORT` is every address (dual-stack where the host
/// has IPv6), `localhost:PORT` is loopback, anything else is resolved.
async fn bind(addr: &str) -> std::io::Result<TcpListener> {
    if let Some(port) = addr.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .map_err(|_| std::io::Error::other(format!("bad port in {addr:?}")))?;
        return match bind_dual_stack(port) {
            Ok(listener) => Ok(listener),
            Err(_) => TcpListener::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))).await,
        };
    }
    if let Some(port) = addr.strip_prefix("localhost:") {
        let port: u16 = port
            .parse()
            .map_err(|_| std::io::Error::other(format!("bad port in {addr:?}")))?;
        return TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await;
    }
    TcpListener::bind(addr).await
}

fn bind_dual_stack(port: u16) -> std::io::Result<TcpListener> {
    let addr = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
    let socket = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::STREAM, None)?;
    socket.set_only_v6(false)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(128)?;
    TcpListener::from_std(socket.into())
}

async fn serve(
    listener: TcpListener,
    paths: BTreeMap<&'static str, HttpHandler>,
    stop: CancellationToken,
) {
    let paths = std::sync::Arc::new(paths);
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else { continue };
        // Bound the connections one probe server keeps open.
        while connections.len() >= 64 {
            connections.join_next().await;
        }
        let paths = paths.clone();
        connections.spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let reply = match paths.get(request.uri().path()) {
                    Some(handler) => handler(),
                    None => HttpReply::text(404, "404 page not found\n"),
                };
                async move { Ok::<_, Infallible>(to_response(reply)) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(std::time::Duration::from_secs(30), connection).await;
        });
    }
    connections.abort_all();
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
