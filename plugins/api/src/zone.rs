//! Zone names: parsing them from the Corefile and matching names against them.

use hickory_proto::rr::Name;

use crate::{ConfigError, Token};

/// Parses a zone name written in a Corefile (`cluster.local`, `cluster.local.`, `.`),
/// as a fully qualified, lower-case name.
pub fn parse_zone(token: &Token) -> Result<Name, ConfigError> {
    let text = token.text.trim();
    let name = Name::from_ascii(text)
        .map_err(|e| token.error(format!("expected a zone name, got {text:?}: {e}")))?;
    let mut name = name.to_lowercase();
    name.set_fqdn(true);
    Ok(name)
}

/// Whether `name` is `zone` or below it, ignoring case.
pub fn is_subdomain(name: &Name, zone: &Name) -> bool {
    zone.zone_of(name)
}

/// The longest of `zones` that `name` falls in, if any.
pub fn longest_match<'z>(name: &Name, zones: &'z [Name]) -> Option<&'z Name> {
    zones
        .iter()
        .filter(|zone| zone.zone_of(name))
        .max_by_key(|zone| zone.num_labels())
}
