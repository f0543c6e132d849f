//! `apiserver_qps`, `apiserver_burst` and `apiserver_max_inflight`: limits on the
//! requests sent to the API server, as a tower layer under the kube client.
//!
//! A watching source sends few requests (one list and one watch per kind, again after
//! each watch timeout or error), but many replicas relisting at once after an API
//! server restart add up: these limits let an operator spread them out.
//!
//! - the rate is a token bucket: `qps` tokens per second, at most `burst` saved up
//!   (default: `qps`, at least 1); a request waits for its token;
//! - `max_inflight` bounds the requests waiting for their response headers (a watch
//!   counts until its stream starts, not while it streams).
//!
//! Absent or 0 means no limit.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// The shared limits of one client.
#[derive(Clone, Default)]
pub struct LimitLayer {
    bucket: Option<Arc<Mutex<Bucket>>>,
    inflight: Option<Arc<Semaphore>>,
}

impl LimitLayer {
    /// Limits from the options; `None` or 0 disables each.
    pub fn new(qps: Option<f64>, burst: Option<u32>, max_inflight: Option<u32>) -> Self {
        let bucket = qps.filter(|q| *q > 0.0).map(|rate| {
            let burst = f64::from(burst.filter(|b| *b > 0).unwrap_or(0)).max(rate.max(1.0));
            Arc::new(Mutex::new(Bucket {
                rate,
                burst,
                tokens: burst,
                last: Instant::now(),
            }))
        });
        let inflight = max_inflight
            .filter(|n| *n > 0)
            .map(|n| Arc::new(Semaphore::new(n as usize)));
        Self { bucket, inflight }
    }

    /// How long the next request has to wait for its token (and takes it).
    fn reserve(&self) -> Option<Duration> {
        let bucket = self.bucket.as_ref()?;
        bucket.lock().reserve(Instant::now())
    }
}

/// A token bucket that hands out tokens ahead of time: a request that finds none
/// takes a future one and waits until it is due.
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn reserve(&mut self, now: Instant) -> Option<Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.tokens -= 1.0;
        (self.tokens < 0.0).then(|| Duration::from_secs_f64(-self.tokens / self.rate))
    }
}

impl<S> tower::Layer<S> for LimitLayer {
    type Service = Limited<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Limited {
            inner,
            limits: self.clone(),
            reserved: false,
            delay: None,
            acquiring: None,
            permit: None,
        }
    }
}

type Acquire = Pin<Box<dyn Future<Output = Option<OwnedSemaphorePermit>> + Send>>;

/// A service that is ready only once the limits of [`LimitLayer`] let the next
/// request go: it has its token, and a slot among the requests in flight.
pub struct Limited<S> {
    inner: S,
    limits: LimitLayer,
    /// The next request's token is taken (and `delay` is when it is due).
    reserved: bool,
    delay: Option<Pin<Box<Sleep>>>,
    acquiring: Option<Acquire>,
    permit: Option<OwnedSemaphorePermit>,
}

impl<S, R> tower::Service<R> for Limited<S>
where
    S: tower::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if !self.reserved {
            self.reserved = true;
            self.delay = self
                .limits
                .reserve()
                .map(|wait| Box::pin(tokio::time::sleep(wait)));
        }
        if let Some(delay) = &mut self.delay {
            std::task::ready!(delay.as_mut().poll(cx));
            self.delay = None;
        }
        if self.permit.is_none()
            && let Some(semaphore) = &self.limits.inflight
        {
            let semaphore = semaphore.clone();
            let acquiring = self.acquiring.get_or_insert_with(|| {
                Box::pin(async move { semaphore.acquire_owned().await.ok() })
            });
            let permit = std::task::ready!(acquiring.as_mut().poll(cx));
            self.acquiring = None;
            self.permit = permit;
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        self.reserved = false;
        let permit = self.permit.take();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await;
            drop(permit);
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_spaces_requests_at_the_rate() {
        let start = Instant::now();
        let mut bucket = Bucket {
            rate: 2.0,
            burst: 3.0,
            tokens: 3.0,
            last: start,
        };
        for _ in 0..3 {
            assert_eq!(bucket.reserve(start), None);
        }
        let wait = bucket.reserve(start).unwrap();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-9, "{wait:?}");
        let wait = bucket.reserve(start).unwrap();
        assert!((wait.as_secs_f64() - 1.0).abs() < 1e-9, "{wait:?}");
        // Two seconds later the debt of two tokens is paid and two more have accrued.
        let later = start + Duration::from_secs(2);
        assert_eq!(bucket.reserve(later), None);
    }

    #[test]
    fn zero_or_absent_means_unlimited() {
        let limits = LimitLayer::new(Some(0.0), Some(5), Some(0));
        assert!(limits.bucket.is_none() && limits.inflight.is_none());
        assert_eq!(limits.reserve(), None);
        let limits = LimitLayer::new(Some(10.0), None, Some(2));
        assert!(limits.bucket.is_some());
        assert_eq!(
            limits.inflight.as_ref().map(|s| s.available_permits()),
            Some(2)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn requests_wait_for_their_token() {
        use tower::{Layer, Service, ServiceExt};
        let layer = LimitLayer::new(Some(1.0), Some(1), None);
        let mut service = layer.layer(tower::service_fn(|n: u32| async move {
            Ok::<_, std::convert::Infallible>((n, Instant::now()))
        }));
        let start = Instant::now();
        let (_, first) = service.ready().await.unwrap().call(1).await.unwrap();
        let (_, second) = service.ready().await.unwrap().call(2).await.unwrap();
        assert_eq!(first.duration_since(start), Duration::ZERO);
        assert_eq!(second.duration_since(start), Duration::from_secs(1));
    }

    #[tokio::test]
    async fn max_inflight_holds_the_next_request_until_a_response_arrives() {
        use std::sync::Arc;
        use tower::{Layer, Service, ServiceExt};
        let gate = Arc::new(tokio::sync::Notify::new());
        let layer = LimitLayer::new(None, None, Some(1));
        let inner_gate = gate.clone();
        let mut service = layer.layer(tower::service_fn(move |n: u32| {
            let gate = inner_gate.clone();
            async move {
                if n == 1 {
                    gate.notified().await;
                }
                Ok::<_, std::convert::Infallible>(n)
            }
        }));
        let first = service.ready().await.unwrap().call(1);
        let first = tokio::spawn(first);
        // The only slot is taken: the service is not ready for a second request.
        let waiting = tokio::time::timeout(Duration::from_millis(50), service.ready()).await;
        assert!(
            waiting.is_err(),
            "a second request went out with the slot taken"
        );
        gate.notify_one();
        assert_eq!(first.await.unwrap().unwrap(), 1);
        assert_eq!(service.ready().await.unwrap().call(2).await.unwrap(), 2);
    }
}
