//! The `k8s_external` directive.

use clusterdns_api::proto::rr::Name;
use clusterdns_api::zone::parse_zone;
use clusterdns_api::{ConfigError, Directive, Fallthrough};

/// What the directive says.
#[derive(Clone, Debug)]
pub struct Config {
    /// The zones answered; the server block's when none are given.
    pub zones: Vec<Name>,
    /// TTL of every record (CoreDNS: 5).
    pub ttl: u32,
    /// The label under each zone where the server's own names live (`dns`).
    pub apex: Name,
    /// Answer headless services with their endpoints.
    pub headless: bool,
    /// Names that go to the next plugin instead of NXDOMAIN.
    pub fallthrough: Fallthrough,
}

impl Config {
    /// Reads `k8s_external [ZONE...] [{ apex APEX; ttl TTL; headless; fallthrough [ZONE...] }]`.
    pub fn parse(directive: &Directive, block_zones: &[Name]) -> Result<Self, ConfigError> {
        let zones = if directive.args.is_empty() {
            block_zones.to_vec()
        } else {
            directive
                .args
                .iter()
                .map(parse_zone)
                .collect::<Result<Vec<_>, _>>()?
        };
        let mut config = Config {
            zones,
            ttl: 5,
            apex: Name::from_labels([b"dns".as_slice()])
                .map_err(|e| directive.error(e.to_string()))?,
            headless: false,
            fallthrough: Fallthrough::default(),
        };
        for option in directive.block_lines() {
            match option.name.text.as_str() {
                "ttl" => {
                    let token = option.single()?;
                    let ttl: i64 = token.parse("a TTL in seconds")?;
                    if !(0..=3600).contains(&ttl) {
                        return Err(token.error(format!("ttl must be in range [0, 3600]: {ttl}")));
                    }
                    config.ttl = ttl as u32;
                }
                "apex" => {
                    let token = option.single()?;
                    let mut apex = Name::from_ascii(&token.text)
                        .map_err(|e| token.error(format!("apex: not a domain name: {e}")))?;
                    apex.set_fqdn(false);
                    if apex.num_labels() == 0 {
                        return Err(token.error("apex: must not be empty"));
                    }
                    config.apex = apex.to_lowercase();
                }
                "headless" => {
                    option.flag()?;
                    config.headless = true;
                }
                "fallthrough" => config.fallthrough = Fallthrough::parse(option)?,
                _ => return Err(directive.unknown_option(option)),
            }
        }
        Ok(config)
    }
}
