//! `fallthrough [ZONES...]`: pass a would-be NXDOMAIN to the next plugin.

use hickory_proto::rr::Name;

use crate::zone::parse_zone;
use crate::{ConfigError, Directive};

/// Which names a plugin hands on instead of answering NXDOMAIN.
///
/// Off by default. `fallthrough` alone covers every name; `fallthrough ZONE...` only
/// names in those zones (as the kubeadm Corefile does for the reverse zones).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fallthrough {
    enabled: bool,
    zones: Vec<Name>,
}

impl Fallthrough {
    /// Falls through for every name.
    pub fn all() -> Self {
        Self {
            enabled: true,
            zones: Vec::new(),
        }
    }

    /// Reads a `fallthrough [ZONES...]` line.
    pub fn parse(directive: &Directive) -> Result<Self, ConfigError> {
        directive.no_block()?;
        let zones = directive
            .args
            .iter()
            .map(parse_zone)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            enabled: true,
            zones,
        })
    }

    /// Whether no name falls through (so NXDOMAIN is final without looking at the name).
    pub fn is_off(&self) -> bool {
        !self.enabled
    }

    /// Whether a would-be NXDOMAIN for `name` goes to the next plugin.
    pub fn through(&self, name: &Name) -> bool {
        self.enabled && (self.zones.is_empty() || self.zones.iter().any(|zone| zone.zone_of(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Token;

    fn directive(args: &[&str]) -> Directive {
        Directive {
            name: Token::synthetic("fallthrough"),
            args: args.iter().map(|a| Token::synthetic(a)).collect(),
            block: None,
        }
    }

    #[test]
    fn limits_to_zones() {
        let ft = Fallthrough::parse(&directive(&["in-addr.arpa", "ip6.arpa"])).unwrap();
        assert!(ft.through(&Name::from_ascii("1.0.0.10.In-Addr.Arpa.").unwrap()));
        assert!(!ft.through(&Name::from_ascii("web.default.svc.cluster.local.").unwrap()));
        assert!(
            Fallthrough::parse(&directive(&[]))
                .unwrap()
                .through(&Name::root())
        );
        assert!(!Fallthrough::default().through(&Name::root()));
    }
}
