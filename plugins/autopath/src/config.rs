//! The `autopath` directive.

use clusterdns_api::proto::rr::Name;
use clusterdns_api::zone::{parse_zone, resolv_conf_search};
use clusterdns_api::{ConfigError, Directive, SetupCtx};

/// Where the search path comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchSource {
    /// `@kubernetes`: the client pod's search path, per query.
    Kubernetes,
    /// A `resolv.conf` file's search domains, then the root (the name as asked).
    Static(Vec<Name>),
}

/// What the directive says.
#[derive(Clone, Debug)]
pub struct Config {
    /// The zones autopathed; the server block's when none are given.
    pub zones: Vec<Name>,
    /// The search path.
    pub search: SearchSource,
}

impl Config {
    /// Reads `autopath [ZONE...] RESOLV-CONF`.
    pub fn parse(directive: &Directive, ctx: &SetupCtx) -> Result<Self, ConfigError> {
        directive.arg_count(1, usize::MAX)?;
        directive.no_block()?;
        let Some((source, zones)) = directive.args.split_last() else {
            return Err(directive.error("no resolv-conf specified"));
        };
        let search = match source.text.strip_prefix('@') {
            Some("kubernetes") => SearchSource::Kubernetes,
            Some(other) => {
                return Err(source.error(format!(
                    "autopath: {other} does not implement the AutoPather interface (only @kubernetes does)"
                )));
            }
            None => {
                let path = ctx.resolve_path(&source.text);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    source.error(format!(
                        "autopath: failed to parse {:?}: {e}",
                        path.display().to_string()
                    ))
                })?;
                let mut search = resolv_conf_search(&text);
                search.push(Name::root());
                SearchSource::Static(search)
            }
        };
        let zones = if zones.is_empty() {
            ctx.zones.clone()
        } else {
            zones
                .iter()
                .map(parse_zone)
                .collect::<Result<Vec<_>, _>>()?
        };
        Ok(Config { zones, search })
    }
}
