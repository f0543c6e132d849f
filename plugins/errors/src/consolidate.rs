//! The `consolidate` bookkeeping, kept free of clocks and logging so it can be tested
//! with made-up instants.
//!
//! Each rule has at most one open window. The first matching error opens it; every
//! further match only counts; once the rule's period has passed since the window
//! opened, [`Consolidator::flush`] closes it and returns the summary line.

use std::time::{Duration, Instant};

use regex::Regex;

/// The level a consolidated summary (and, with `show_first`, the first error) is
/// logged at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// `error`, the default.
    Error,
    /// `warning`.
    Warning,
    /// `info`.
    Info,
    /// `debug`.
    Debug,
}

impl Level {
    /// Reads a level as the Corefile spells it.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "error" => Some(Self::Error),
            "warning" => Some(Self::Warning),
            "info" => Some(Self::Info),
            "debug" => Some(Self::Debug),
            _ => None,
        }
    }
}

/// One `consolidate DURATION REGEXP [LEVEL] [show_first]` line.
#[derive(Clone, Debug)]
pub struct Rule {
    /// How long a window stays open after its first error.
    pub period: Duration,
    /// Which error messages the rule takes.
    pub pattern: Regex,
    /// The level of the summary line.
    pub level: Level,
    /// Whether the first error of a window is logged right away.
    pub show_first: bool,
}

/// What to do with one error message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// No rule takes it: log it as an error, as usual.
    Log,
    /// A rule counted it: do not log it now.
    Counted,
    /// The first of a `show_first` window: log it now, at this level.
    LogFirst(Level),
}

/// An open window: how many errors it has counted since when.
#[derive(Clone, Copy, Debug)]
struct Window {
    count: u64,
    opened: Instant,
}

/// The rules and their open windows.
#[derive(Debug, Default)]
pub struct Consolidator {
    rules: Vec<Rule>,
    windows: Vec<Option<Window>>,
}

impl Consolidator {
    /// A consolidator for `rules`, all windows closed.
    pub fn new(rules: Vec<Rule>) -> Self {
        let windows = vec![None; rules.len()];
        Self { rules, windows }
    }

    /// Whether there is any rule at all.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Accounts for one error `message` at `now`. Only the first rule whose pattern
    /// matches counts it, as in CoreDNS. Call [`flush`](Self::flush) first, so that an
    /// expired window is closed before a new error lands in it.
    pub fn record(&mut self, message: &str, now: Instant) -> Outcome {
        let Some(index) = self.rules.iter().position(|r| r.pattern.is_match(message)) else {
            return Outcome::Log;
        };
        let rule = &self.rules[index];
        match &mut self.windows[index] {
            Some(window) => {
                window.count += 1;
                Outcome::Counted
            }
            slot @ None => {
                *slot = Some(Window {
                    count: 1,
                    opened: now,
                });
                if rule.show_first {
                    Outcome::LogFirst(rule.level)
                } else {
                    Outcome::Counted
                }
            }
        }
    }

    /// Closes the windows whose period has passed at `now`, and returns their summary
    /// lines with their levels.
    pub fn flush(&mut self, now: Instant) -> Vec<(Level, String)> {
        self.close(|rule, window| now.saturating_duration_since(window.opened) >= rule.period)
    }

    /// Closes every window, whatever its age: for shutdown and reload, so that no
    /// count is lost (CoreDNS does the same when it stops).
    pub fn flush_all(&mut self) -> Vec<(Level, String)> {
        self.close(|_, _| true)
    }

    /// When the earliest open window is due, if any window is open.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.rules
            .iter()
            .zip(&self.windows)
            .filter_map(|(rule, window)| window.map(|w| w.opened + rule.period))
            .min()
    }

    fn close(&mut self, due: impl Fn(&Rule, &Window) -> bool) -> Vec<(Level, String)> {
        let mut lines = Vec::new();
        for (rule, slot) in self.rules.iter().zip(&mut self.windows) {
            let Some(window) = slot else { continue };
            if !due(rule, window) {
                continue;
            }
            // With show_first, a lone error was already logged in full: a summary
            // saying "1 errors like ..." would only repeat it.
            if window.count > 1 || !rule.show_first {
                lines.push((
                    rule.level,
                    format!(
                        "{} errors like '{}' occurred in last {}",
                        window.count,
                        rule.pattern.as_str(),
                        go_duration(rule.period)
                    ),
                ));
            }
            *slot = None;
        }
        lines
    }
}

/// Formats `d` as Go's `time.Duration.String` does (`30s`, `5m0s`, `1h30m0s`,
/// `1.5s`, `500ms`), because the summary line quotes the period that way.
pub fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000_000_000 {
        // Below one second Go picks the largest unit that keeps the integer part
        // non-zero: ns, µs or ms.
        let (scale, unit) = match nanos {
            n if n < 1_000 => (1, "ns"),
            n if n < 1_000_000 => (1_000, "µs"),
            _ => (1_000_000, "ms"),
        };
        return format!("{}{unit}", fraction(nanos, scale));
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = nanos / 60_000_000_000 % 60;
    let seconds = fraction(nanos % 60_000_000_000, 1_000_000_000);
    if hours > 0 {
        format!("{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

/// `value / scale` in decimal, without trailing zeros in the fraction.
fn fraction(value: u128, scale: u128) -> String {
    let whole = value / scale;
    let rest = value % scale;
    if rest == 0 {
        return whole.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(period_s: u64, pattern: &str, level: Level, show_first: bool) -> Rule {
        Rule {
            period: Duration::from_secs(period_s),
            pattern: Regex::new(pattern).expect("regex"),
            level,
            show_first,
        }
    }

    #[test]
    fn counts_and_summarises_after_the_period() {
        let mut c = Consolidator::new(vec![rule(30, "timeout$", Level::Warning, false)]);
        let t0 = Instant::now();
        assert_eq!(c.record("read udp: i/o timeout", t0), Outcome::Counted);
        assert_eq!(c.next_deadline(), Some(t0 + Duration::from_secs(30)));
        assert_eq!(
            c.record("dial: timeout", t0 + Duration::from_secs(1)),
            Outcome::Counted
        );
        assert_eq!(c.record("refused", t0), Outcome::Log);
        assert!(c.flush(t0 + Duration::from_secs(29)).is_empty());
        assert_eq!(
            c.flush(t0 + Duration::from_secs(30)),
            [(
                Level::Warning,
                "2 errors like 'timeout$' occurred in last 30s".to_owned()
            )]
        );
        assert_eq!(c.next_deadline(), None);
        assert!(
            c.flush(t0 + Duration::from_secs(90)).is_empty(),
            "nothing counted since"
        );
    }

    #[test]
    fn first_matching_rule_wins() {
        let mut c = Consolidator::new(vec![
            rule(10, "^a", Level::Error, false),
            rule(10, "b", Level::Info, false),
        ]);
        let t0 = Instant::now();
        c.record("ab", t0);
        c.record("b", t0);
        let lines = c.flush(t0 + Duration::from_secs(10));
        assert_eq!(
            lines,
            [
                (
                    Level::Error,
                    "1 errors like '^a' occurred in last 10s".to_owned()
                ),
                (
                    Level::Info,
                    "1 errors like 'b' occurred in last 10s".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn show_first_logs_the_first_and_summarises_only_repeats() {
        let mut c = Consolidator::new(vec![rule(60, "x", Level::Warning, true)]);
        let t0 = Instant::now();
        assert_eq!(c.record("x", t0), Outcome::LogFirst(Level::Warning));
        assert_eq!(c.record("x", t0), Outcome::Counted);
        assert_eq!(c.record("x", t0), Outcome::Counted);
        assert_eq!(
            c.flush(t0 + Duration::from_secs(60)),
            [(
                Level::Warning,
                "3 errors like 'x' occurred in last 1m0s".to_owned()
            )]
        );
        // A lone error in the next window: shown at once, no summary afterwards.
        let t1 = t0 + Duration::from_secs(100);
        assert_eq!(c.record("x", t1), Outcome::LogFirst(Level::Warning));
        assert!(c.flush(t1 + Duration::from_secs(60)).is_empty());
    }

    #[test]
    fn flush_all_closes_young_windows() {
        let mut c = Consolidator::new(vec![rule(300, ".", Level::Error, false)]);
        c.record("boom", Instant::now());
        assert_eq!(
            c.flush_all(),
            [(
                Level::Error,
                "1 errors like '.' occurred in last 5m0s".to_owned()
            )]
        );
        assert!(c.flush_all().is_empty());
    }

    #[test]
    fn durations_print_like_go() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(1), "1ns"),
            (Duration::from_nanos(1_500), "1.5µs"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_micros(2_250), "2.25ms"),
            (Duration::from_secs(1), "1s"),
            (Duration::from_millis(1_500), "1.5s"),
            (Duration::from_secs(30), "30s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(300), "5m0s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::from_secs(5430), "1h30m30s"),
            (Duration::from_millis(61_001), "1m1.001s"),
        ];
        for (d, want) in cases {
            assert_eq!(go_duration(d), want, "{d:?}");
        }
    }
}
