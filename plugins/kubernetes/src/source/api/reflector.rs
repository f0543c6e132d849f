//! One kind's reflector: list, then watch from the list's resourceVersion, written
//! on `kube::Api` so that every retry follows one exact, tested contract.
//!
//! - **List.** Paged ([`Change::ListStart`], [`Change::Listed`]..., [`Change::ListDone`]):
//!   the index compares each object as it comes and applies the list at the end as one
//!   difference, so a relist deletes what vanished while the watch was down and never
//!   empties the zone in between.
//! - **Watch** from the list's resourceVersion, with bookmarks; each event patches the
//!   index and moves the resourceVersion on. A watch that ends (the server's timeout,
//!   a dropped connection, an error event) is started again **from the last
//!   resourceVersion**: nothing is listed again. Only `410 Gone` (the version is too
//!   old, or the API server was replaced and it is too new) falls back to a list.
//! - **Errors**, of every class (no connection, no answer within
//!   [`Timing::request_timeout`], 5xx, 403, 429...), wait out the kind's
//!   [`Backoff`] (0.8 s doubling to 30 s, jitter inside the cap), at least the
//!   `Retry-After` the server asked for, and are cut short when another kind announces
//!   that the API answers again ([`ApiHealth`]). A watch that closes within a second
//!   without an event counts as a failure too, so a server that closes every watch at
//!   once is not asked in a loop (as client-go does).
//! - **Logs** go through [`Outage`]: one WARN when a kind starts failing, a summary at
//!   most every 30 s, one INFO with the outage's length when it answers again.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use kube::Resource;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::backoff::{Backoff, Schedule};
use super::health::ApiHealth;
use super::outage::Outage;
use crate::metrics;
use crate::object::{ConvertError, Kind, Object, ObjectKey};
use crate::source::{Change, ChangeSink, Closed};

/// Turns an API object into a slim one; `Ok(None)` for objects DNS ignores (a slice
/// without a service, a pod without an IP...).
pub type Convert<K> = fn(&K) -> Result<Option<Object>, ConvertError>;

/// Time limits of the reflector.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    /// The retry schedule.
    pub backoff: Schedule,
    /// How long a list page, or the start of a watch, may take.
    pub request_timeout: Duration,
    /// The `timeoutSeconds` of a watch: the API server ends it then, and it is started
    /// again from its resourceVersion.
    pub watch_timeout: Duration,
    /// A watch that ends sooner than this without an event counts as a failure.
    pub short_watch: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            backoff: Schedule::CLIENT_GO,
            request_timeout: Duration::from_secs(60),
            // kube-runtime's and client-go's order of magnitude (5 minutes).
            watch_timeout: Duration::from_secs(290),
            short_watch: Duration::from_secs(1),
        }
    }
}

/// Why a request of the reflector failed.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The API server answered with an error status.
    #[error("HTTP {code} {reason}: {message}")]
    Status {
        /// The HTTP status code.
        code: u16,
        /// The `Status` reason (`Forbidden`, `Expired`, ...).
        reason: String,
        /// The `Status` message.
        message: String,
    },
    /// No connection, or it broke (the causes, outermost first).
    #[error("{0}")]
    Transport(String),
    /// No answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// A watch closed at once without an event.
    #[error("the watch closed within {0:?} without an event")]
    ShortWatch(Duration),
}

impl RequestError {
    fn is_gone(&self) -> bool {
        matches!(self, RequestError::Status { code: 410, .. })
    }
}

impl From<kube::Error> for RequestError {
    fn from(error: kube::Error) -> Self {
        match error {
            kube::Error::Api(status) => RequestError::Status {
                code: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
            },
            other => {
                let mut text = other.to_string();
                let mut source = std::error::Error::source(&other);
                while let Some(cause) = source {
                    let cause_text = cause.to_string();
                    if !text.contains(&cause_text) {
                        text.push_str(": ");
                        text.push_str(&cause_text);
                    }
                    source = cause.source();
                }
                RequestError::Transport(text)
            }
        }
    }
}

/// What went wrong in one step.
enum Failure {
    /// A request failed: back off.
    Request(RequestError),
    /// The index is gone: stop.
    Closed,
}

impl From<RequestError> for Failure {
    fn from(error: RequestError) -> Self {
        Failure::Request(error)
    }
}

impl From<Closed> for Failure {
    fn from(_: Closed) -> Self {
        Failure::Closed
    }
}

/// How a watch ended without failing.
enum WatchEnd {
    /// Start it again from the resourceVersion it reached.
    Resume,
    /// The resourceVersion is gone: list again.
    Relist,
}

/// One kind's list/watch loop.
pub struct Reflector<K: Resource + Clone + 'static> {
    api: Api<K>,
    selector: String,
    /// The field selector (empty for none).
    fields: String,
    page_size: u32,
    kind: Kind,
    sink: ChangeSink,
    convert: Convert<K>,
    /// How a deleted object is sent: as the object it was (a pod's addresses, to
    /// forget them), or, when `None` or when it gives nothing, as its key.
    deleted: Option<Convert<K>>,
    health: Arc<ApiHealth>,
    timing: Timing,
    backoff: Backoff,
    outage: Outage,
}

impl<K> Reflector<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    /// A reflector of `kind` on `api` (whose URL is `base_url` + its path), with
    /// `selector` (empty for none), feeding `sink`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        api: Api<K>,
        base_url: &str,
        selector: String,
        page_size: u32,
        kind: Kind,
        sink: ChangeSink,
        convert: Convert<K>,
        health: Arc<ApiHealth>,
        timing: Timing,
    ) -> Self {
        let url = format!("{}{}", base_url.trim_end_matches('/'), api.resource_url());
        Self {
            api,
            selector,
            fields: String::new(),
            page_size,
            kind,
            sink,
            convert,
            deleted: None,
            health,
            timing,
            backoff: Backoff::new(timing.backoff),
            outage: Outage::new(kind, url),
        }
    }

    /// Lists and watches only objects whose fields match `fields` (a field selector).
    /// An object that stops matching is watched as deleted.
    pub fn with_fields(mut self, fields: &str) -> Self {
        self.fields = fields.to_owned();
        self
    }

    /// Sends deleted objects converted by `deleted` (when it gives one) instead of
    /// their keys.
    pub fn with_deleted(mut self, deleted: Convert<K>) -> Self {
        self.deleted = Some(deleted);
        self
    }

    /// Feeds the sink until it closes (the plugin is gone).
    pub async fn run(mut self) {
        let mut back = self.health.subscribe();
        // Where the next watch starts; `None`: list first.
        let mut version: Option<String> = None;
        // When the last list ended: a version that is gone as soon as it was listed
        // counts as a failure, so a server that expires every fresh version is not
        // listed in a loop.
        let mut listed_at: Option<Instant> = None;
        loop {
            let result = match version.as_mut() {
                None => self.list().await.map(|rv| {
                    listed_at = Some(Instant::now());
                    Some(rv)
                }),
                Some(rv) => match self.watch(rv).await {
                    Ok(WatchEnd::Resume) => continue,
                    Ok(WatchEnd::Relist)
                        if listed_at.is_some_and(|t| t.elapsed() < self.timing.short_watch) =>
                    {
                        Err(Failure::Request(RequestError::Status {
                            code: 410,
                            reason: "Expired".to_owned(),
                            message: "the version just listed is already gone".to_owned(),
                        }))
                    }
                    Ok(WatchEnd::Relist) => Ok(None),
                    Err(failure) => Err(failure),
                },
            };
            match result {
                Ok(next) => version = next,
                Err(Failure::Closed) => return,
                Err(Failure::Request(error)) => {
                    if error.is_gone() {
                        version = None;
                    }
                    if self.sink.is_closed() {
                        return;
                    }
                    self.failed(&error, &mut back).await;
                }
            }
        }
    }

    /// Lists every object of the kind, page by page, into the sink; the list's
    /// resourceVersion.
    async fn list(&mut self) -> Result<String, Failure> {
        let mut params = ListParams::default().limit(self.page_size);
        if !self.selector.is_empty() {
            params = params.labels(&self.selector);
        }
        if !self.fields.is_empty() {
            params = params.fields(&self.fields);
        }
        let mut started = false;
        let mut listed = 0usize;
        let mut version = String::new();
        loop {
            let page = self.request(self.api.list(&params)).await?;
            self.answered();
            if !started {
                self.sink.send(Change::ListStart)?;
                started = true;
            }
            if let Some(rv) = page.metadata.resource_version.filter(|rv| !rv.is_empty()) {
                version = rv;
            }
            for object in page.items {
                if let Some(slim) = self.convert_listed(&object) {
                    listed += 1;
                    self.sink.send(Change::Listed(slim))?;
                }
            }
            match page.metadata.continue_.filter(|token| !token.is_empty()) {
                Some(token) => params.continue_token = Some(token),
                None => break,
            }
        }
        if version.is_empty() {
            return Err(Failure::Request(RequestError::Transport(
                "the list has no resourceVersion".to_owned(),
            )));
        }
        self.sink.send(Change::ListDone)?;
        self.sink.send(Change::Synced)?;
        tracing::debug!(kind = %self.kind, objects = listed, %version, "kubernetes: listed");
        Ok(version)
    }

    /// Watches from `version`, moving it on with every event, until the watch ends.
    async fn watch(&mut self, version: &mut String) -> Result<WatchEnd, Failure> {
        let seconds = u32::try_from(self.timing.watch_timeout.as_secs())
            .unwrap_or(u32::MAX)
            .max(1);
        let mut params = WatchParams::default().timeout(seconds);
        if !self.selector.is_empty() {
            params = params.labels(&self.selector);
        }
        if !self.fields.is_empty() {
            params = params.fields(&self.fields);
        }
        let started = Instant::now();
        let stream = match self.request(self.api.watch(&params, version)).await {
            Ok(stream) => stream,
            Err(Failure::Request(error)) if error.is_gone() => {
                // The server answered: the API is there, the version is not.
                self.answered();
                tracing::debug!(kind = %self.kind, %version, "kubernetes: watch version gone; listing again");
                return Ok(WatchEnd::Relist);
            }
            Err(failure) => return Err(failure),
        };
        self.answered();
        let mut stream = std::pin::pin!(stream);
        let idle = self.timing.watch_timeout + self.timing.request_timeout;
        let mut events = 0u64;
        loop {
            let next = tokio::time::timeout(idle, stream.next())
                .await
                .map_err(|_| RequestError::Timeout(idle))?;
            let event = match next {
                None => break,
                Some(Ok(event)) => event,
                Some(Err(error)) => return Err(RequestError::from(error).into()),
            };
            events += 1;
            match event {
                WatchEvent::Added(object) | WatchEvent::Modified(object) => {
                    note_version(version, &object);
                    if let Some(change) = self.applied(&object) {
                        self.sink.send(change)?;
                    }
                }
                WatchEvent::Deleted(object) => {
                    note_version(version, &object);
                    self.sink.send(self.gone(&object))?;
                }
                WatchEvent::Bookmark(bookmark) => {
                    if !bookmark.metadata.resource_version.is_empty() {
                        *version = bookmark.metadata.resource_version;
                    }
                }
                WatchEvent::Error(status) if status.code == 410 => {
                    tracing::debug!(kind = %self.kind, %version, "kubernetes: watch version gone; listing again");
                    return Ok(WatchEnd::Relist);
                }
                WatchEvent::Error(status) => {
                    return Err(RequestError::from(kube::Error::Api(status)).into());
                }
            }
        }
        let lasted = started.elapsed();
        if events == 0 && lasted < self.timing.short_watch {
            return Err(RequestError::ShortWatch(self.timing.short_watch).into());
        }
        Ok(WatchEnd::Resume)
    }

    /// `request`, bounded by the request timeout.
    async fn request<T>(
        &self,
        request: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, Failure> {
        let limit = self.timing.request_timeout;
        match tokio::time::timeout(limit, request).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => Err(RequestError::from(error).into()),
            Err(_) => Err(RequestError::Timeout(limit).into()),
        }
    }

    /// The API answered: ends an outage, and tells the other kinds.
    fn answered(&mut self) {
        if self.outage.answered(Instant::now()).is_some() {
            self.health.announce_back();
        }
    }

    /// Logs and counts `error`, then waits out the backoff.
    async fn failed(&mut self, error: &RequestError, back: &mut tokio::sync::watch::Receiver<u64>) {
        back.mark_unchanged();
        metrics::count_watch_error(self.kind.as_str());
        let now = Instant::now();
        self.outage.failed(now, error);
        let wait = self.backoff.fail(now);
        let not_before = self.health.take_retry_after(self.api.resource_url());
        tracing::debug!(
            kind = %self.kind,
            %error,
            failures = self.backoff.failures(),
            ?wait,
            retry_after = ?not_before.map(|t| t.saturating_duration_since(now)),
            "kubernetes: retrying"
        );
        let waited = ApiHealth::wait(back, wait, not_before).await;
        tracing::debug!(kind = %self.kind, ?waited, "kubernetes: retrying now");
    }

    fn convert_listed(&self, object: &K) -> Option<Object> {
        match (self.convert)(object) {
            Ok(slim) => slim,
            Err(error) => {
                tracing::warn!(kind = %self.kind, object = %self.key(object), %error, "kubernetes: skipping an object that cannot be used");
                None
            }
        }
    }

    /// The change a watched add or update makes.
    fn applied(&self, object: &K) -> Option<Change> {
        match (self.convert)(object) {
            Ok(Some(slim)) => Some(Change::Apply(slim)),
            // No longer of interest (a pod that finished): as good as deleted.
            Ok(None) => Some(Change::Delete(self.key(object))),
            Err(error) => {
                // Keep what the index has: a bad update must not lose records.
                tracing::warn!(kind = %self.kind, object = %self.key(object), %error, "kubernetes: ignoring an update that cannot be used");
                None
            }
        }
    }

    /// The change a watched delete makes.
    fn gone(&self, object: &K) -> Change {
        match self.deleted.map(|deleted| deleted(object)) {
            Some(Ok(Some(slim))) => Change::Apply(slim),
            _ => Change::Delete(self.key(object)),
        }
    }

    fn key(&self, object: &K) -> ObjectKey {
        key_of(self.kind, object)
    }
}

/// The index key of an API object of `kind`.
fn key_of<K: Resource>(kind: Kind, object: &K) -> ObjectKey {
    let meta = object.meta();
    let namespace = match kind {
        Kind::Namespace => "",
        _ => meta.namespace.as_deref().unwrap_or("default"),
    };
    ObjectKey {
        kind,
        namespace: Arc::from(namespace),
        name: Arc::from(meta.name.as_deref().unwrap_or("")),
    }
}

/// Moves `version` to the object's resourceVersion, if it has one.
fn note_version<K: Resource>(version: &mut String, object: &K) {
    if let Some(rv) = object.meta().resource_version.as_deref()
        && !rv.is_empty()
    {
        rv.clone_into(version);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_answer_keeps_its_status_and_410_means_relist() {
        let status = kube::core::Status::failure("too old resource version", "Expired")
            .with_code(410)
            .boxed();
        let error = RequestError::from(kube::Error::Api(status));
        assert!(error.is_gone());
        assert_eq!(
            error.to_string(),
            "HTTP 410 Expired: too old resource version"
        );
        let forbidden = kube::core::Status::failure("pods is forbidden", "Forbidden")
            .with_code(403)
            .boxed();
        let error = RequestError::from(kube::Error::Api(forbidden));
        assert!(!error.is_gone());
        assert_eq!(error.to_string(), "HTTP 403 Forbidden: pods is forbidden");
    }

    #[test]
    fn the_default_timing_is_client_go_s() {
        let timing = Timing::default();
        assert_eq!(timing.backoff, Schedule::CLIENT_GO);
        // kube refuses a watch timeout of 295 s or more.
        assert!(timing.watch_timeout < Duration::from_secs(295));
    }
}
