//! What the kinds watched on one API server share: the news that the API answers
//! again, and the `Retry-After` the API server asked for.
//!
//! - **Back.** Each kind backs off on its own schedule, so after an outage the kinds
//!   would come back one by one, the last up to a whole backoff step (30 s) late. When
//!   a kind that was failing gets an answer, it says so here ([`ApiHealth::announce_back`]),
//!   and every kind waiting out a backoff tries again at once ([`ApiHealth::wait`]).
//!   Only a recovery is announced, never a routine success, so a kind that keeps
//!   failing on its own (a 403 for Pods, say) is woken once per recovery of another
//!   kind, not once per event.
//! - **Retry-After.** The client's HTTP stack records the header of every error
//!   response that carries one ([`RetryAfterLayer`]); the kind whose request it was
//!   waits at least that long, even if another kind announces that the API is back.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::time::Instant;

/// The longest `Retry-After` honoured: a larger one (or a date far ahead) is cut to
/// this, so that a confused server cannot park a kind for hours.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);
/// At most this many request paths with a pending `Retry-After` are remembered (one
/// per kind is what a source needs).
const MAX_HINTS: usize = 64;

/// Shared by the kinds of one source and its client.
pub struct ApiHealth {
    back: watch::Sender<u64>,
    retry_after: Mutex<Vec<(String, Instant)>>,
}

/// How a wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waited {
    /// The whole backoff passed.
    Elapsed,
    /// Another kind announced that the API answers again.
    Woken,
}

impl ApiHealth {
    /// A fresh state.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            back: watch::Sender::new(0),
            retry_after: Mutex::new(Vec::new()),
        })
    }

    /// A receiver for [`ApiHealth::wait`]; one per kind.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.back.subscribe()
    }

    /// A kind that was failing got an answer: the others stop waiting.
    pub fn announce_back(&self) {
        self.back
            .send_modify(|generation| *generation = generation.wrapping_add(1));
    }

    /// Notes that the API server asked to wait `wait` before asking `path` again.
    pub fn note_retry_after(&self, path: &str, wait: Duration) {
        let until = Instant::now() + wait.min(MAX_RETRY_AFTER);
        let mut hints = self.retry_after.lock();
        let now = Instant::now();
        hints.retain(|(p, due)| p != path && *due > now);
        if hints.len() >= MAX_HINTS {
            hints.remove(0);
        }
        hints.push((path.to_owned(), until));
    }

    /// The time before which `path` must not be asked again, if the server said so
    /// (and forgets it).
    pub fn take_retry_after(&self, path: &str) -> Option<Instant> {
        let mut hints = self.retry_after.lock();
        let position = hints.iter().position(|(p, _)| p == path)?;
        let (_, until) = hints.swap_remove(position);
        (until > Instant::now()).then_some(until)
    }

    /// Waits out a backoff of `wait`: first until `not_before` (a `Retry-After`),
    /// whatever happens, then the rest of `wait` unless another kind announces that the
    /// API is back meanwhile. `back` must have been marked seen when the failure
    /// happened, so that only later news counts.
    pub async fn wait(
        back: &mut watch::Receiver<u64>,
        wait: Duration,
        not_before: Option<Instant>,
    ) -> Waited {
        let deadline = Instant::now() + wait;
        if let Some(not_before) = not_before {
            tokio::time::sleep_until(not_before).await;
            if not_before >= deadline {
                return Waited::Elapsed;
            }
        }
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => Waited::Elapsed,
            changed = back.changed() => match changed {
                Ok(()) => Waited::Woken,
                // The source is gone: nobody will announce anything; wait it out.
                Err(_) => {
                    tokio::time::sleep_until(deadline).await;
                    Waited::Elapsed
                }
            },
        }
    }
}

/// The seconds of a `Retry-After` header (`delta-seconds`; an HTTP date is not sent
/// by the API server and is ignored).
pub fn parse_retry_after(value: &[u8]) -> Option<Duration> {
    let text = std::str::from_utf8(value).ok()?.trim();
    text.parse::<u64>().ok().map(Duration::from_secs)
}

/// A tower layer under the kube client recording `Retry-After` into [`ApiHealth`].
#[derive(Clone)]
pub struct RetryAfterLayer {
    health: Arc<ApiHealth>,
}

impl RetryAfterLayer {
    /// Records into `health`.
    pub fn new(health: Arc<ApiHealth>) -> Self {
        Self { health }
    }
}

impl<S> tower::Layer<S> for RetryAfterLayer {
    type Service = RecordRetryAfter<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RecordRetryAfter {
            inner,
            health: self.health.clone(),
        }
    }
}

/// See [`RetryAfterLayer`].
#[derive(Clone)]
pub struct RecordRetryAfter<S> {
    inner: S,
    health: Arc<ApiHealth>,
}

impl<S, B, RB> tower::Service<http::Request<B>> for RecordRetryAfter<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path().to_owned();
        let health = self.health.clone();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            let status = response.status();
            if (status.is_client_error() || status.is_server_error())
                && let Some(wait) = response
                    .headers()
                    .get(http::header::RETRY_AFTER)
                    .and_then(|v| parse_retry_after(v.as_bytes()))
            {
                health.note_retry_after(&path, wait);
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_announcement_ends_a_backoff_but_not_a_retry_after() {
        let health = ApiHealth::new();
        let mut back = health.subscribe();
        let start = Instant::now();
        let waker = {
            let health = health.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(2)).await;
                health.announce_back();
            })
        };
        let waited = ApiHealth::wait(&mut back, Duration::from_secs(30), None).await;
        assert_eq!(waited, Waited::Woken);
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        waker.await.unwrap();

        // A Retry-After of 10 s is waited out even though the API is announced back.
        back.mark_unchanged();
        let start = Instant::now();
        let not_before = Some(start + Duration::from_secs(10));
        health.announce_back();
        let waited = ApiHealth::wait(&mut back, Duration::from_secs(30), not_before).await;
        assert_eq!(waited, Waited::Woken);
        assert_eq!(start.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_remembered_per_path_and_bounded() {
        let health = ApiHealth::new();
        health.note_retry_after("/api/v1/services", Duration::from_secs(5));
        assert!(health.take_retry_after("/api/v1/pods").is_none());
        let until = health.take_retry_after("/api/v1/services").unwrap();
        assert_eq!(until - Instant::now(), Duration::from_secs(5));
        assert!(
            health.take_retry_after("/api/v1/services").is_none(),
            "taken"
        );
        health.note_retry_after("/x", Duration::from_secs(1_000_000));
        let until = health.take_retry_after("/x").unwrap();
        assert_eq!(until - Instant::now(), MAX_RETRY_AFTER);
        assert_eq!(parse_retry_after(b" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(b"Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
