//! Watch streams: newline-delimited JSON events over a chunked HTTP body.
//!
//! A watch first sends what the store computed when it was opened (a replay
//! from the log, or synthetic `ADDED` events for the current objects, or a 410
//! `ERROR` when the requested resourceVersion is compacted away), then follows
//! live events, interleaving `BOOKMARK`s, until `timeoutSeconds` elapse, the
//! store expires or drops it, or the client goes away.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::time::Duration;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::{Instant, Interval, MissedTickBehavior, Sleep};

use crate::ApiServer;
use crate::encode::{self, Shape};
use crate::filter::{Filter, Seen};
use crate::status::ApiError;
use crate::store::{Msg, OpenResult, Start};

/// Chunks are cut once they reach this size, so bursts travel in few frames.
const CHUNK_BYTES: usize = 64 * 1024;

/// A parsed watch request.
#[derive(Clone, Debug)]
pub(crate) struct WatchRequest {
    pub filter: Filter,
    pub shape: Shape,
    /// `resourceVersion`; `None` when absent or `"0"`.
    pub resource_version: Option<u64>,
    pub send_initial_events: bool,
    pub bookmarks: bool,
    pub timeout: Duration,
}

/// Opens the watch and answers with its streaming body.
pub(crate) fn respond(server: &ApiServer, req: WatchRequest) -> Response {
    let start = match (req.send_initial_events, req.resource_version) {
        (false, Some(rv)) => Start::Since(rv),
        _ => Start::Current,
    };
    let store = &server.shared.store;
    let body = match store.open_watch(&req.filter, start) {
        OpenResult::Expired(message) => {
            Body::from(encode::error(ApiError::expired(message).to_status()))
        }
        OpenResult::Opened(opened) => {
            let mut pending: VecDeque<Item> = opened.initial.into_iter().map(Item::Seen).collect();
            if req.send_initial_events {
                pending.push_back(Item::Raw(encode::bookmark(
                    req.filter.kind,
                    req.shape,
                    opened.rv,
                    true,
                )));
            }
            let bookmarks = req.bookmarks.then(|| {
                let period = server
                    .shared
                    .options
                    .bookmark_interval
                    .max(Duration::from_millis(1));
                let mut interval = tokio::time::interval_at(Instant::now() + period, period);
                interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
                interval
            });
            let stream = WatchStream {
                server: server.clone(),
                id: opened.id,
                rx: opened.rx,
                filter: req.filter,
                shape: req.shape,
                pending,
                finished: false,
                bookmarks,
                deadline: Box::pin(tokio::time::sleep(req.timeout)),
                last_rv: opened.rv,
            };
            Body::from_stream(futures_util::stream::unfold(stream, |mut s| async move {
                let chunk = s.next_chunk().await?;
                Some((Ok::<_, Infallible>(chunk), s))
            }))
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

enum Item {
    Seen(Seen),
    Raw(Bytes),
}

enum Step {
    Msg(Option<Msg>),
    Timeout,
    Bookmark,
}

struct WatchStream {
    server: ApiServer,
    id: u64,
    rx: mpsc::UnboundedReceiver<Msg>,
    filter: Filter,
    shape: Shape,
    pending: VecDeque<Item>,
    /// Send what is pending, then end.
    finished: bool,
    bookmarks: Option<Interval>,
    deadline: Pin<Box<Sleep>>,
    /// The newest resourceVersion this watcher has been brought up to.
    last_rv: u64,
}

impl WatchStream {
    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if !self.pending.is_empty() {
                return Some(self.encode_pending());
            }
            if self.finished {
                return None;
            }
            let step = tokio::select! {
                biased;
                msg = self.rx.recv() => Step::Msg(msg),
                () = &mut self.deadline => Step::Timeout,
                () = tick(&mut self.bookmarks) => Step::Bookmark,
            };
            match step {
                Step::Msg(msg) => self.handle(msg),
                Step::Timeout => self.finished = true,
                Step::Bookmark => self.bookmark(),
            }
        }
    }

    fn handle(&mut self, msg: Option<Msg>) {
        match msg {
            None | Some(Msg::Closed) => {
                self.pending.clear();
                self.finished = true;
            }
            Some(Msg::Expired { oldest }) => {
                let status = ApiError::expired(format!(
                    "too old resource version: {} ({oldest})",
                    self.last_rv
                ))
                .to_status();
                self.pending.push_back(Item::Raw(encode::error(status)));
                self.finished = true;
            }
            Some(Msg::Event(event)) => {
                self.last_rv = self.last_rv.max(event.rv);
                if let Some(seen) = self.filter.view(&event) {
                    self.pending.push_back(Item::Seen(seen));
                }
            }
        }
    }

    /// Queues a bookmark at the current resourceVersion, after every event up
    /// to it. Events are put into the channel under the store lock, so those up
    /// to the resourceVersion just read are already waiting there.
    fn bookmark(&mut self) {
        let rv = self.server.shared.store.current_rv();
        while let Ok(msg) = self.rx.try_recv() {
            self.handle(Some(msg));
            if self.finished {
                return;
            }
        }
        self.last_rv = self.last_rv.max(rv);
        self.pending.push_back(Item::Raw(encode::bookmark(
            self.filter.kind,
            self.shape,
            self.last_rv,
            false,
        )));
    }

    fn encode_pending(&mut self) -> Bytes {
        let mut out = Vec::new();
        while out.len() < CHUNK_BYTES {
            match self.pending.pop_front() {
                Some(Item::Seen(seen)) => {
                    encode::event(&mut out, seen.ty, &seen.object, self.shape)
                }
                Some(Item::Raw(raw)) => out.extend_from_slice(&raw),
                None => break,
            }
        }
        Bytes::from(out)
    }
}

impl Drop for WatchStream {
    fn drop(&mut self) {
        self.server.shared.store.unregister(self.id);
    }
}

async fn tick(interval: &mut Option<Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}
