//! Serving the API over a TCP listener, and being able to pull the plug.
//!
//! Tests simulate the API server going down and coming back, so stopping must
//! be abrupt: stop accepting *and* cut every open connection, idle keep-alive
//! connections and in-flight watch streams alike. Every connection runs as a
//! task in one `JoinSet` owned by the accept loop; stopping aborts them all.
//! The state lives in [`ApiServer`], not here, so a later
//! [`ApiServer::serve`] continues where this one left off.

use std::net::SocketAddr;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

#[cfg(doc)]
use crate::ApiServer;

/// A running server. Dropping it is the same as [`Serving::stop`].
#[derive(Debug)]
pub struct Serving {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Serving {
    /// Serves `router` on `listener`; while `down` says so, the listener is closed
    /// (connections refused) and every connection cut, and the same address is
    /// bound again once it says up.
    pub(crate) fn start(
        listener: TcpListener,
        router: Router,
        down: Option<watch::Receiver<bool>>,
    ) -> Serving {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(serve(listener, addr, router, stopped, down));
        Serving {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Pulls the plug: stops accepting and aborts every open connection,
    /// watches included. The sockets are closed by the runtime right after
    /// this returns; use [`Serving::stop_and_wait`] to wait for that.
    pub fn stop(self) {
        drop(self);
    }

    /// Like [`Serving::stop`], returning once the listener and every
    /// connection are closed.
    pub async fn stop_and_wait(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            // Dropping the accept loop drops its JoinSet, which aborts every connection.
            task.abort();
        }
    }
}

/// Why an accept loop ended.
enum Ended {
    Stopped,
    Down,
}

async fn serve(
    listener: TcpListener,
    addr: SocketAddr,
    router: Router,
    mut stopped: oneshot::Receiver<()>,
    down: Option<watch::Receiver<bool>>,
) {
    let Some(mut down) = down else {
        let always_up = watch::Sender::new(false);
        let mut up = always_up.subscribe();
        accept_loop(listener, &router, &mut stopped, &mut up).await;
        return;
    };
    let mut listener = Some(listener);
    loop {
        if let Some(listener) = listener.take()
            && let Ended::Stopped = accept_loop(listener, &router, &mut stopped, &mut down).await
        {
            return;
        }
        // Down: wait to come back up, then bind the same address again.
        tokio::select! {
            _ = &mut stopped => return,
            up = down.wait_for(|down| !*down) => if up.is_err() { return },
        }
        while listener.is_none() {
            match TcpListener::bind(addr).await {
                Ok(bound) => listener = Some(bound),
                Err(e) => {
                    tracing::debug!(error = %e, "cannot bind again yet");
                    tokio::select! {
                        _ = &mut stopped => return,
                        () = tokio::time::sleep(std::time::Duration::from_millis(10)) => {}
                    }
                }
            }
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    router: &Router,
    stopped: &mut oneshot::Receiver<()>,
    down: &mut watch::Receiver<bool>,
) -> Ended {
    let mut connections = JoinSet::new();
    let ended = loop {
        if *down.borrow_and_update() {
            break Ended::Down;
        }
        tokio::select! {
            _ = &mut *stopped => break Ended::Stopped,
            changed = down.changed() => if changed.is_err() { break Ended::Stopped },
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, router.clone()));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    };
    drop(listener);
    connections.shutdown().await;
    ended
}

async fn serve_connection(stream: TcpStream, router: Router) {
    let _ = stream.set_nodelay(true);
    let service = TowerToHyperService::new(router);
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
