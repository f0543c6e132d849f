//! `reload [INTERVAL] [JITTER]`: ask the server to re-read the Corefile when it changes.
//!
//! The plugin only records the timing; the server does the work (see `src/reload.rs`):
//! it builds the new configuration beside the old one and swaps it in without dropping
//! queries, or keeps the old one if the new file is broken.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::sync::Arc;
use std::time::Duration;

use clusterdns_api::{ConfigError, Directive, Plugin, ReloadSchedule, SetupCtx};

/// CoreDNS's default check interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// CoreDNS's default jitter.
pub const DEFAULT_JITTER: Duration = Duration::from_secs(15);
/// The shortest interval accepted.
pub const MIN_INTERVAL: Duration = Duration::from_secs(2);

/// Reads the directive and records the interval and jitter in `ctx.reload`.
pub fn setup(
    directive: &Directive,
    ctx: &mut SetupCtx,
) -> Result<Option<Arc<dyn Plugin>>, ConfigError> {
    directive.check_args(0, 2)?;
    let interval = match directive.args.first() {
        Some(token) => {
            let interval = token.duration()?;
            if interval < MIN_INTERVAL {
                return Err(token.error(format!(
                    "reload: interval must be at least 2s, got {:?}",
                    token.text
                )));
            }
            interval
        }
        None => DEFAULT_INTERVAL,
    };
    let jitter = match directive.args.get(1) {
        Some(token) => {
            let jitter = token.duration()?;
            if jitter > interval / 2 {
                return Err(token.error(format!(
                    "reload: jitter must be at most half the interval, got {:?}",
                    token.text
                )));
            }
            jitter
        }
        None => DEFAULT_JITTER.min(interval / 2),
    };
    ctx.reload = Some(ReloadSchedule {
        every: interval,
        jitter,
    });
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusterdns_api::testing::{directive, setup_ctx};

    fn reload(text: &str) -> Result<Option<(Duration, Duration)>, ConfigError> {
        let mut ctx = setup_ctx();
        setup(&directive(text), &mut ctx)?;
        Ok(ctx.reload.map(|schedule| (schedule.every, schedule.jitter)))
    }

    #[test]
    fn defaults_and_arguments() {
        assert_eq!(
            reload("reload").unwrap(),
            Some((DEFAULT_INTERVAL, DEFAULT_JITTER))
        );
        assert_eq!(
            reload("reload 10s").unwrap(),
            Some((Duration::from_secs(10), Duration::from_secs(5)))
        );
        assert_eq!(
            reload("reload 2s 0s").unwrap(),
            Some((Duration::from_secs(2), Duration::ZERO))
        );
    }

    #[test]
    fn errors_name_the_position() {
        let cases = [
            (
                "reload 1s",
                "Corefile:1:8: reload: interval must be at least 2s, got \"1s\"",
            ),
            (
                "reload 10s 6s",
                "Corefile:1:12: reload: jitter must be at most half the interval, got \"6s\"",
            ),
            (
                "reload x",
                "Corefile:1:8: expected a duration such as 5s or 1m30s, got \"x\"",
            ),
            (
                "reload 10s 1s 1s",
                "Corefile:1:15: reload: wrong argument count: expected at most 2, got 3 (unexpected \"1s\")",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(reload(text).unwrap_err().to_string(), expected, "{text}");
        }
    }
}
