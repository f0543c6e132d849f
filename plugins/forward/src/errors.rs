//! The plugin's errors, one enum per layer: [`ExchangeError`] for one exchange with one
//! upstream (in `exchange`), [`TlsError`] for the TLS settings (in `tls`),
//! [`SetupError`] for building the plugin and [`ForwardError`] for one query.
//!
//! A query's error reaches the server as `forward: QNAME QTYPE: TEXT`, and the `errors`
//! plugin's `consolidate` patterns match that text, so the texts below are kept as
//! they were when the errors were strings:
//!
//! - `no upstreams`, `no healthy upstreams`;
//! - `upstream ADDR over udp|tcp: ` and the exchange's text: `no answer within Nms`,
//!   `connection closed by the upstream`, `UDP answer larger than 4096 bytes`, the
//!   system's text for a socket error (`Connection refused (os error 111)`), or
//!   `TLS handshake: ...`.

use std::net::SocketAddr;

pub use crate::exchange::ExchangeError;
pub use crate::tls::TlsError;

/// Why the plugin cannot be built from its (already parsed) configuration.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The TLS settings.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The health-check query cannot be encoded.
    #[error("health check query: {0}")]
    HealthQuery(#[source] ExchangeError),
}

/// Why a query got no answer from the upstreams.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// The plugin has no upstream (a resolv.conf with no nameserver).
    #[error("no upstreams")]
    NoUpstreams,
    /// Every upstream is down and `failfast` forbids trying one anyway.
    #[error("no healthy upstreams")]
    NoHealthy,
    /// The query could not be encoded.
    #[error(transparent)]
    Query(ExchangeError),
    /// Every attempt failed or none answered before the query's deadline; the last
    /// failure is named.
    #[error("upstream {upstream} over {proto}: {last}")]
    AllFailed {
        /// Attempts made.
        attempts: u32,
        /// The upstream of the last failed attempt.
        upstream: SocketAddr,
        /// `udp` or `tcp`.
        proto: &'static str,
        /// Why it failed.
        #[source]
        last: ExchangeError,
    },
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn texts_stay_what_consolidate_patterns_match() {
        let error = ForwardError::AllFailed {
            attempts: 2,
            upstream: "10.0.0.1:53".parse().unwrap(),
            proto: "udp",
            last: ExchangeError::Timeout(Duration::from_millis(2000)),
        };
        assert_eq!(
            error.to_string(),
            "upstream 10.0.0.1:53 over udp: no answer within 2000ms"
        );
        assert_eq!(ForwardError::NoUpstreams.to_string(), "no upstreams");
        assert_eq!(ForwardError::NoHealthy.to_string(), "no healthy upstreams");
        let closed = ForwardError::AllFailed {
            attempts: 1,
            upstream: "[2001:db8::1]:53".parse().unwrap(),
            proto: "tcp",
            last: ExchangeError::Closed,
        };
        assert_eq!(
            closed.to_string(),
            "upstream [2001:db8::1]:53 over tcp: connection closed by the upstream"
        );
    }
}
