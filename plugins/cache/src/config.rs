//! Reading the `cache` directive.
//!
//! ```text
//! cache [TTL] [ZONES...] {
//!     success CAPACITY [TTL] [MINTTL]
//!     denial CAPACITY [TTL] [MINTTL]
//!     prefetch AMOUNT [[DURATION] [PERCENTAGE%]]
//!     serve_stale [DURATION] [immediate [RESPONSE_TTL [FAILURE_RECHECK]] | verify [VERIFY_TIMEOUT [RESPONSE_TTL [FAILURE_RECHECK]]]]
//!     servfail DURATION
//!     disable success|denial [ZONES...]
//!     keepttl
//! }
//! ```

use std::sync::OnceLock;
use std::time::Duration;

use clusterdns_api::zone::parse_zone;
use clusterdns_api::{ConfigError, Directive, SetupCtx, Token};
use hickory_proto::rr::Name;

/// CoreDNS's default capacity of each store: 256 shards of 39 entries.
pub(crate) const DEFAULT_CAPACITY: usize = 9984;
/// The number of shards of each store, as in CoreDNS.
pub(crate) const SHARDS: usize = 256;
/// The smallest shard: a store never holds fewer than 256 × 4 = 1024 entries.
pub(crate) const MIN_SHARD_CAPACITY: usize = 4;
/// The largest capacity accepted, so that a typo cannot ask for terabytes.
pub(crate) const MAX_CAPACITY: usize = 1 << 26;
/// Default maximum TTL of positive answers, in seconds.
pub(crate) const MAX_SUCCESS_TTL: u32 = 3600;
/// Default maximum TTL of negative answers, in seconds.
pub(crate) const MAX_DENIAL_TTL: u32 = 1800;
/// Default minimum TTL of both stores, in seconds.
pub(crate) const MIN_TTL: u32 = 5;
/// The largest TTL RFC 2181 allows (2^31 - 1).
pub(crate) const MAX_RFC_TTL: u32 = i32::MAX as u32;
/// How long SERVFAIL answers are cached by default.
pub(crate) const DEFAULT_SERVFAIL: Duration = Duration::from_secs(5);
/// RFC 2308 §7.1: SERVFAIL must not be cached for longer than five minutes.
pub(crate) const MAX_SERVFAIL: Duration = Duration::from_secs(300);
/// How long an entry may go without queries and still count as popular.
pub(crate) const DEFAULT_PREFETCH_WINDOW: Duration = Duration::from_secs(60);
/// Prefetch when this share of the original TTL is left.
pub(crate) const DEFAULT_PREFETCH_PERCENTAGE: u32 = 10;
/// How long expired entries are kept for `serve_stale` by default.
pub(crate) const DEFAULT_STALE: Duration = Duration::from_secs(3600);
/// RFC 8767 §4: the failure recheck should not exceed five minutes.
pub(crate) const MAX_FAILURE_RECHECK: Duration = Duration::from_secs(300);

/// The settings of one store (`success` or `denial`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoreConfig {
    /// The capacity as written; the store rounds it (see [`StoreConfig::shard_capacity`]).
    pub capacity: usize,
    /// The longest an entry is kept, in seconds.
    pub max_ttl: u32,
    /// The shortest an entry is kept, in seconds.
    pub min_ttl: u32,
}

impl StoreConfig {
    fn new(max_ttl: u32) -> Self {
        Self {
            capacity: DEFAULT_CAPACITY,
            max_ttl,
            min_ttl: MIN_TTL,
        }
    }

    /// Entries per shard: the capacity divided among the shards, at least 4, as in
    /// CoreDNS (so the capacity is rounded down to a multiple of 256, at least 1024).
    pub fn shard_capacity(&self) -> usize {
        (self.capacity / SHARDS).max(MIN_SHARD_CAPACITY)
    }

    /// The number of entries the store holds at most.
    #[cfg(test)]
    pub fn effective_capacity(&self) -> usize {
        self.shard_capacity() * SHARDS
    }

    /// The TTL an answer whose records say `ttl` is cached for.
    pub fn clamp(&self, ttl: u32) -> u32 {
        ttl.max(self.min_ttl).min(self.max_ttl)
    }
}

/// `prefetch AMOUNT [DURATION] [PERCENTAGE%]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Prefetch {
    /// Queries an entry must have seen to be popular.
    pub amount: u32,
    /// The longest gap between two queries of a popular entry.
    pub window: Duration,
    /// Refresh when at most this percentage of the original TTL is left.
    pub percentage: u32,
}

/// When an expired entry is refreshed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RefreshMode {
    /// CoreDNS answers stale at once and refreshes in the background; see the README
    /// for what this build does.
    Immediate,
    /// Ask the rest of the chain first; answer stale only if that fails.
    Verify,
}

/// `serve_stale [DURATION] [MODE ...]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ServeStale {
    /// How long past expiry an entry may still be served.
    pub up_to: Duration,
    /// When the refresh happens.
    pub mode: RefreshMode,
    /// `verify` only: how long to wait for the chain before answering stale.
    pub verify_timeout: Option<Duration>,
    /// The TTL of stale answers, in seconds (CoreDNS's default: 0).
    pub response_ttl: u32,
    /// After a failed refresh, how long to answer stale without asking again.
    pub failure_recheck: Duration,
}

/// The `serve_stale` a `cache` directive without its own line gets, for the whole process.
/// Unset in an ordinary server (CoreDNS's behaviour: no stale answers); node-local mode
/// sets it, since a node cache that empties when its one upstream is down takes every
/// pod on the node down with it.
static DEFAULT_SERVE_STALE: OnceLock<ServeStale> = OnceLock::new();

/// Makes every `cache` without a `serve_stale` line behave as if it had
/// `serve_stale UP_TO immediate RESPONSE_TTL FAILURE_RECHECK`. Set once, before the
/// Corefile is loaded; `false` if it was already set (the first setting stays).
pub fn set_default_serve_stale(
    up_to: Duration,
    response_ttl: Duration,
    failure_recheck: Duration,
) -> bool {
    DEFAULT_SERVE_STALE
        .set(ServeStale {
            up_to,
            mode: RefreshMode::Immediate,
            verify_timeout: None,
            response_ttl: whole_seconds(response_ttl),
            failure_recheck: failure_recheck.min(MAX_FAILURE_RECHECK),
        })
        .is_ok()
}

/// Everything the `cache` directive configures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CacheConfig {
    /// The zones answers are cached for.
    pub zones: Vec<Name>,
    /// Positive answers.
    pub success: StoreConfig,
    /// NXDOMAIN, NODATA and SERVFAIL answers.
    pub denial: StoreConfig,
    /// How long SERVFAIL (and NOTIMP) answers are cached, in seconds; 0 disables it.
    pub servfail_ttl: u32,
    /// Refreshing popular entries before they expire.
    pub prefetch: Option<Prefetch>,
    /// Serving expired entries when the rest of the chain fails.
    pub serve_stale: Option<ServeStale>,
    /// Zones whose positive answers are not stored.
    pub disable_success: Vec<Name>,
    /// Zones whose negative answers are not stored.
    pub disable_denial: Vec<Name>,
    /// Serve the TTL as stored instead of counting it down.
    pub keepttl: bool,
}

impl CacheConfig {
    /// Parses `cache [TTL] [ZONES...] { ... }`.
    pub fn parse(directive: &Directive, ctx: &SetupCtx) -> Result<Self, ConfigError> {
        Self::parse_with_default(directive, ctx, DEFAULT_SERVE_STALE.get())
    }

    /// [`CacheConfig::parse`], with `default_stale` for a directive without `serve_stale`.
    fn parse_with_default(
        directive: &Directive,
        ctx: &SetupCtx,
        default_stale: Option<&ServeStale>,
    ) -> Result<Self, ConfigError> {
        let mut config = Self {
            zones: Vec::new(),
            success: StoreConfig::new(MAX_SUCCESS_TTL),
            denial: StoreConfig::new(MAX_DENIAL_TTL),
            servfail_ttl: whole_seconds(DEFAULT_SERVFAIL),
            prefetch: None,
            serve_stale: default_stale.cloned(),
            disable_success: Vec::new(),
            disable_denial: Vec::new(),
            keepttl: false,
        };
        let mut args = directive.args.as_slice();
        // As in CoreDNS, a first argument that is a number is the TTL, anything else
        // is a zone.
        if let Some((first, rest)) = args.split_first()
            && looks_numeric(&first.text)
        {
            let ttl = ttl(first, "cache", "a TTL")?;
            config.success.max_ttl = ttl;
            config.denial.max_ttl = ttl;
            args = rest;
        }
        config.zones = if args.is_empty() {
            ctx.zones.clone()
        } else {
            args.iter().map(parse_zone).collect::<Result<_, _>>()?
        };
        if config.zones.is_empty() {
            config.zones.push(Name::root());
        }
        for line in directive.block_lines() {
            config.option(directive, line)?;
        }
        Ok(config)
    }

    /// Applies one line of the block.
    fn option(&mut self, directive: &Directive, line: &Directive) -> Result<(), ConfigError> {
        let name = line.name.text.as_str();
        match name {
            "success" | "denial" => {
                line.check_args(1, 3)?;
                let store = if name == "success" {
                    &mut self.success
                } else {
                    &mut self.denial
                };
                let capacity = &line.args[0];
                store.capacity = capacity
                    .text
                    .parse::<usize>()
                    .ok()
                    .filter(|c| (1..=MAX_CAPACITY).contains(c))
                    .ok_or_else(|| {
                        capacity.error(format!(
                            "{name}: expected a capacity from 1 to {MAX_CAPACITY} entries, got {:?}",
                            capacity.text
                        ))
                    })?;
                if let Some(token) = line.args.get(1) {
                    store.max_ttl = ttl(token, name, "a TTL")?;
                }
                if let Some(token) = line.args.get(2) {
                    store.min_ttl = token
                        .text
                        .parse::<u32>()
                        .ok()
                        .filter(|t| *t <= MAX_RFC_TTL)
                        .ok_or_else(|| {
                            token.error(format!(
                                "{name}: expected a minimum TTL of 0 to {MAX_RFC_TTL} seconds, got {:?}",
                                token.text
                            ))
                        })?;
                }
            }
            "prefetch" => {
                line.check_args(1, 3)?;
                let amount = &line.args[0];
                let amount = amount.text.parse::<u32>().map_err(|_| {
                    amount.error(format!(
                        "prefetch: expected an amount of queries (0 or more), got {:?}",
                        amount.text
                    ))
                })?;
                let mut prefetch = Prefetch {
                    amount,
                    window: DEFAULT_PREFETCH_WINDOW,
                    percentage: DEFAULT_PREFETCH_PERCENTAGE,
                };
                if let Some(token) = line.args.get(1) {
                    prefetch.window = token.duration()?;
                    if prefetch.window.is_zero() {
                        return Err(token.error(format!(
                            "prefetch: expected a duration longer than 0, got {:?}",
                            token.text
                        )));
                    }
                }
                if let Some(token) = line.args.get(2) {
                    prefetch.percentage = token
                        .text
                        .strip_suffix('%')
                        .and_then(|n| n.parse::<u32>().ok())
                        .filter(|p| (10..=90).contains(p))
                        .ok_or_else(|| {
                            token.error(format!(
                                "prefetch: expected a percentage from 10% to 90%, with the % sign, got {:?}",
                                token.text
                            ))
                        })?;
                }
                // `prefetch 0` turns it off, as in CoreDNS.
                self.prefetch = (amount > 0).then_some(prefetch);
            }
            "serve_stale" => {
                line.check_args(0, 5)?;
                self.serve_stale = Some(serve_stale(line)?);
            }
            "serve_stale_policy" => {
                return Err(line.name.error(
                    "serve_stale_policy: not supported by this build of clusterdns (remove the line)",
                ));
            }
            "servfail" => {
                line.check_args(1, 1)?;
                let token = &line.args[0];
                let duration = token.duration()?;
                if duration > MAX_SERVFAIL {
                    return Err(token.error(format!(
                        "servfail: expected a duration of at most 5m (RFC 2308), got {:?}",
                        token.text
                    )));
                }
                self.servfail_ttl = whole_seconds(duration);
            }
            "disable" => {
                line.check_args(1, usize::MAX)?;
                let kind = &line.args[0];
                let mut zones = line.args[1..]
                    .iter()
                    .map(parse_zone)
                    .collect::<Result<Vec<_>, _>>()?;
                if zones.is_empty() {
                    zones.push(Name::root());
                }
                match kind.text.as_str() {
                    "success" => self.disable_success.extend(zones),
                    "denial" => self.disable_denial.extend(zones),
                    other => {
                        return Err(kind.error(format!(
                            "disable: expected success or denial, got {other:?}"
                        )));
                    }
                }
            }
            "keepttl" => {
                line.check_args(0, 0)?;
                self.keepttl = true;
            }
            _ => return Err(directive.unknown_option(line)),
        }
        Ok(())
    }

    /// The `zones` label of the metrics: the zones joined with commas, as CoreDNS does.
    pub fn zones_label(&self) -> String {
        self.zones
            .iter()
            .map(Name::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// `serve_stale [DURATION] [immediate [RESPONSE_TTL [FAILURE_RECHECK]] | verify
/// [VERIFY_TIMEOUT [RESPONSE_TTL [FAILURE_RECHECK]]]]`.
fn serve_stale(line: &Directive) -> Result<ServeStale, ConfigError> {
    let mut stale = ServeStale {
        up_to: DEFAULT_STALE,
        mode: RefreshMode::Immediate,
        verify_timeout: None,
        response_ttl: 0,
        failure_recheck: Duration::ZERO,
    };
    let mut args = line.args.iter();
    if let Some(token) = args.next() {
        stale.up_to = token.duration()?;
    }
    if let Some(token) = args.next() {
        stale.mode = match token.text.to_ascii_lowercase().as_str() {
            "immediate" => RefreshMode::Immediate,
            "verify" => RefreshMode::Verify,
            _ => {
                return Err(token.error(format!(
                    "serve_stale: expected a refresh mode, immediate or verify, got {:?}",
                    token.text
                )));
            }
        };
    }
    if stale.mode == RefreshMode::Verify
        && let Some(token) = args.next()
    {
        let timeout = token.duration()?;
        stale.verify_timeout = (!timeout.is_zero()).then_some(timeout);
    }
    if let Some(token) = args.next() {
        let ttl = token.duration()?;
        if ttl.subsec_nanos() != 0 || ttl.as_secs() > u64::from(MAX_RFC_TTL) {
            return Err(token.error(format!(
                "serve_stale: expected a response TTL in whole seconds, such as 30s, got {:?}",
                token.text
            )));
        }
        stale.response_ttl = whole_seconds(ttl);
    }
    if let Some(token) = args.next() {
        let recheck = token.duration()?;
        if recheck > MAX_FAILURE_RECHECK {
            return Err(token.error(format!(
                "serve_stale: expected a failure recheck of at most 5m, got {:?}",
                token.text
            )));
        }
        stale.failure_recheck = recheck;
    }
    if let Some(token) = args.next() {
        return Err(token.error(format!(
            "serve_stale: unexpected {:?} after the failure recheck (immediate takes at most RESPONSE_TTL and FAILURE_RECHECK)",
            token.text
        )));
    }
    Ok(stale)
}

/// Whether a first argument is meant as a TTL rather than a zone (`30`, `-1`, `+5`).
fn looks_numeric(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A TTL from 1 second to the RFC 2181 maximum.
fn ttl(token: &Token, option: &str, what: &str) -> Result<u32, ConfigError> {
    token
        .text
        .parse::<u32>()
        .ok()
        .filter(|t| (1..=MAX_RFC_TTL).contains(t))
        .ok_or_else(|| {
            token.error(format!(
                "{option}: expected {what} of 1 to {MAX_RFC_TTL} seconds, got {:?}",
                token.text
            ))
        })
}

/// A duration in whole seconds (rounded down), saturating.
fn whole_seconds(duration: Duration) -> u32 {
    u32::try_from(duration.as_secs()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusterdns_api::testing::directive;
    use std::path::PathBuf;

    fn ctx(zones: &[&str]) -> SetupCtx {
        SetupCtx::new(
            zones.iter().map(|z| Name::from_ascii(z).unwrap()).collect(),
            53,
            PathBuf::from("/"),
            clusterdns_api::Readiness::new(),
        )
    }

    fn parse(text: &str) -> Result<CacheConfig, ConfigError> {
        CacheConfig::parse(&directive(text), &ctx(&["example.org."]))
    }

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    #[test]
    fn a_process_default_applies_only_without_a_serve_stale_line() {
        let default = ServeStale {
            up_to: Duration::from_secs(3600),
            mode: RefreshMode::Immediate,
            verify_timeout: None,
            response_ttl: 30,
            failure_recheck: Duration::from_secs(30),
        };
        let with_default = |text: &str| {
            CacheConfig::parse_with_default(
                &directive(text),
                &ctx(&["example.org."]),
                Some(&default),
            )
            .unwrap()
        };
        assert_eq!(
            with_default("cache {\nsuccess 9984 30\n}").serve_stale,
            Some(default.clone())
        );
        let own = with_default("cache {\nserve_stale 10m verify\n}")
            .serve_stale
            .unwrap();
        assert_eq!(
            (own.up_to, own.mode),
            (Duration::from_secs(600), RefreshMode::Verify)
        );
    }

    #[test]
    fn defaults() {
        let config = parse("cache").unwrap();
        assert_eq!(config.zones, [name("example.org.")]);
        assert_eq!(config.zones_label(), "example.org.");
        assert_eq!(
            config.success,
            StoreConfig {
                capacity: 9984,
                max_ttl: 3600,
                min_ttl: 5
            }
        );
        assert_eq!(
            config.denial,
            StoreConfig {
                capacity: 9984,
                max_ttl: 1800,
                min_ttl: 5
            }
        );
        assert_eq!(config.success.effective_capacity(), 9984);
        assert_eq!(config.success.shard_capacity(), 39);
        assert_eq!(config.servfail_ttl, 5);
        assert_eq!(config.prefetch, None);
        assert_eq!(config.serve_stale, None);
        assert!(config.disable_success.is_empty());
        assert!(config.disable_denial.is_empty());
        assert!(!config.keepttl);
    }

    #[test]
    fn root_block_label_is_a_dot() {
        let config = CacheConfig::parse(&directive("cache"), &ctx(&["."])).unwrap();
        assert_eq!(config.zones_label(), ".");
        let config = CacheConfig::parse(&directive("cache"), &ctx(&[])).unwrap();
        assert_eq!(config.zones, [Name::root()]);
    }

    #[test]
    fn positional_ttl_caps_both_stores_and_zones_follow() {
        let config = parse("cache 30 Cluster.Local in-addr.arpa").unwrap();
        assert_eq!(config.success.max_ttl, 30);
        assert_eq!(config.denial.max_ttl, 30);
        assert_eq!(
            config.zones,
            [name("cluster.local."), name("in-addr.arpa.")]
        );
        assert_eq!(config.zones_label(), "cluster.local.,in-addr.arpa.");
        let config = parse("cache example.net").unwrap();
        assert_eq!(config.success.max_ttl, 3600);
        assert_eq!(config.zones, [name("example.net.")]);
    }

    #[test]
    fn reads_every_option() {
        let config = parse(
            "cache 300 {\n\
             success 5000 600 10\n\
             denial 2500 60 0\n\
             prefetch 10 2m 20%\n\
             serve_stale 2h verify 100ms 30s 10s\n\
             servfail 1m\n\
             disable success cluster.local\n\
             disable denial cluster.local Example.Com\n\
             keepttl\n\
             }",
        )
        .unwrap();
        assert_eq!(
            config.success,
            StoreConfig {
                capacity: 5000,
                max_ttl: 600,
                min_ttl: 10
            }
        );
        assert_eq!(config.success.effective_capacity(), 19 * 256);
        assert_eq!(
            config.denial,
            StoreConfig {
                capacity: 2500,
                max_ttl: 60,
                min_ttl: 0
            }
        );
        assert_eq!(
            config.prefetch,
            Some(Prefetch {
                amount: 10,
                window: Duration::from_secs(120),
                percentage: 20
            })
        );
        assert_eq!(
            config.serve_stale,
            Some(ServeStale {
                up_to: Duration::from_secs(7200),
                mode: RefreshMode::Verify,
                verify_timeout: Some(Duration::from_millis(100)),
                response_ttl: 30,
                failure_recheck: Duration::from_secs(10),
            })
        );
        assert_eq!(config.servfail_ttl, 60);
        assert_eq!(config.disable_success, [name("cluster.local.")]);
        assert_eq!(
            config.disable_denial,
            [name("cluster.local."), name("example.com.")]
        );
        assert!(config.keepttl);
    }

    #[test]
    fn kubeadm_block() {
        let config = CacheConfig::parse(
            &directive(
                "cache 30 {\n   disable success cluster.local\n   disable denial cluster.local\n}",
            ),
            &ctx(&["."]),
        )
        .unwrap();
        assert_eq!(config.zones, [Name::root()]);
        assert_eq!(config.success.max_ttl, 30);
        assert_eq!(config.disable_success, [name("cluster.local.")]);
        assert_eq!(config.disable_denial, [name("cluster.local.")]);
    }

    #[test]
    fn small_capacities_round_up_to_1024_and_others_down_to_256() {
        let config = parse("cache {\nsuccess 10\ndenial 10000\n}").unwrap();
        assert_eq!(config.success.effective_capacity(), 1024);
        assert_eq!(config.denial.effective_capacity(), 9984);
    }

    #[test]
    fn option_defaults() {
        let config = parse("cache {\nprefetch 2\nserve_stale\ndisable denial\n}").unwrap();
        assert_eq!(
            config.prefetch,
            Some(Prefetch {
                amount: 2,
                window: Duration::from_secs(60),
                percentage: 10
            })
        );
        assert_eq!(
            config.serve_stale,
            Some(ServeStale {
                up_to: Duration::from_secs(3600),
                mode: RefreshMode::Immediate,
                verify_timeout: None,
                response_ttl: 0,
                failure_recheck: Duration::ZERO,
            })
        );
        assert_eq!(config.disable_denial, [Name::root()]);
        let config = parse("cache {\nprefetch 0\nserve_stale 10m immediate 30s 30s\n}").unwrap();
        assert_eq!(config.prefetch, None);
        let stale = config.serve_stale.unwrap();
        assert_eq!(stale.up_to, Duration::from_secs(600));
        assert_eq!(stale.response_ttl, 30);
        assert_eq!(stale.failure_recheck, Duration::from_secs(30));
        let config = parse("cache {\nserve_stale 1h verify 0 30s\nservfail 0\n}").unwrap();
        let stale = config.serve_stale.unwrap();
        assert_eq!(stale.verify_timeout, None);
        assert_eq!(stale.response_ttl, 30);
        assert_eq!(config.servfail_ttl, 0);
    }

    #[test]
    fn errors_name_their_position_and_what_was_expected() {
        let cases = [
            (
                "cache 0",
                "Corefile:1:7: cache: expected a TTL of 1 to 2147483647 seconds, got \"0\"",
            ),
            (
                "cache -5",
                "Corefile:1:7: cache: expected a TTL of 1 to 2147483647 seconds, got \"-5\"",
            ),
            (
                "cache 30 exa..mple",
                "Corefile:1:10: expected a zone name, got \"exa..mple\"",
            ),
            (
                "cache {\nsuccess\n}",
                "Corefile:2:1: success: wrong argument count: expected at least 1, got 0",
            ),
            (
                "cache {\nsuccess lots\n}",
                "Corefile:2:9: success: expected a capacity from 1 to 67108864 entries, got \"lots\"",
            ),
            (
                "cache {\ndenial 0\n}",
                "Corefile:2:8: denial: expected a capacity from 1 to 67108864 entries, got \"0\"",
            ),
            (
                "cache {\nsuccess 1000 0\n}",
                "Corefile:2:14: success: expected a TTL of 1 to 2147483647 seconds, got \"0\"",
            ),
            (
                "cache {\ndenial 1000 10 -1\n}",
                "Corefile:2:16: denial: expected a minimum TTL of 0 to 2147483647 seconds, got \"-1\"",
            ),
            (
                "cache {\nsuccess 1000 10 5 9\n}",
                "Corefile:2:19: success: wrong argument count: expected at most 3, got 4 (unexpected \"9\")",
            ),
            (
                "cache {\nprefetch many\n}",
                "Corefile:2:10: prefetch: expected an amount of queries (0 or more), got \"many\"",
            ),
            (
                "cache {\nprefetch 3 1m 5%\n}",
                "Corefile:2:15: prefetch: expected a percentage from 10% to 90%, with the % sign, got \"5%\"",
            ),
            (
                "cache {\nprefetch 3 1m 50\n}",
                "Corefile:2:15: prefetch: expected a percentage from 10% to 90%, with the % sign, got \"50\"",
            ),
            (
                "cache {\nprefetch 3 soon\n}",
                "Corefile:2:12: expected a duration such as 5s or 1m30s, got \"soon\"",
            ),
            (
                "cache {\nserve_stale 1h sometimes\n}",
                "Corefile:2:16: serve_stale: expected a refresh mode, immediate or verify, got \"sometimes\"",
            ),
            (
                "cache {\nserve_stale 1h immediate 1500ms\n}",
                "Corefile:2:26: serve_stale: expected a response TTL in whole seconds, such as 30s, got \"1500ms\"",
            ),
            (
                "cache {\nserve_stale 1h immediate 30s 10m\n}",
                "Corefile:2:30: serve_stale: expected a failure recheck of at most 5m, got \"10m\"",
            ),
            (
                "cache {\nserve_stale 1h immediate 30s 30s 1s\n}",
                "Corefile:2:34: serve_stale: unexpected \"1s\" after the failure recheck",
            ),
            (
                "cache {\nservfail 10m\n}",
                "Corefile:2:10: servfail: expected a duration of at most 5m (RFC 2308), got \"10m\"",
            ),
            (
                "cache {\nservfail\n}",
                "Corefile:2:1: servfail: wrong argument count: expected 1, got 0",
            ),
            (
                "cache {\ndisable everything\n}",
                "Corefile:2:9: disable: expected success or denial, got \"everything\"",
            ),
            (
                "cache {\ndisable\n}",
                "Corefile:2:1: disable: wrong argument count: expected at least 1, got 0",
            ),
            (
                "cache {\nkeepttl yes\n}",
                "Corefile:2:9: keepttl: wrong argument count: expected 0, got 1 (unexpected \"yes\")",
            ),
            (
                "cache {\n  bogus 1\n}",
                "Corefile:2:3: cache: unknown property \"bogus\"",
            ),
            (
                "cache {\nserve_stale_policy prefer_positive\n}",
                "Corefile:2:1: serve_stale_policy: not supported by this build of clusterdns",
            ),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(
                err.starts_with(expected),
                "{text:?}:\n  got  {err}\n  want {expected}"
            );
        }
    }

    #[test]
    fn clamp_applies_min_then_max() {
        let store = StoreConfig {
            capacity: 1,
            max_ttl: 30,
            min_ttl: 5,
        };
        assert_eq!(store.clamp(0), 5);
        assert_eq!(store.clamp(2), 5);
        assert_eq!(store.clamp(17), 17);
        assert_eq!(store.clamp(300), 30);
        let odd = StoreConfig {
            capacity: 1,
            max_ttl: 3,
            min_ttl: 10,
        };
        assert_eq!(odd.clamp(1), 3, "the maximum wins, as in CoreDNS");
    }
}
