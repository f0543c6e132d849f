//! The plugins that exist, their fixed execution order, and how a server block's
//! directives become a chain.
//!
//! As in CoreDNS (`plugin.cfg`), the order in which plugins run is fixed here, not taken
//! from the Corefile: `cache` always runs before `kubernetes`, `loop` just before
//! `forward`, whatever order the lines are written in.

use std::sync::Arc;

use clusterdns_api::{ConfigError, Directive, Plugin, SetupCtx, Token};

/// Builds a plugin from its directive. `Ok(None)` for directives that only configure
/// the server (listen addresses, HTTP endpoints) and take no part in answering.
pub type SetupFn = fn(&Directive, &mut SetupCtx) -> Result<Option<Arc<dyn Plugin>>, ConfigError>;

/// A built chain, in execution order; each plugin's `name()` is its directive.
pub type Chain = Vec<Arc<dyn Plugin>>;

/// A directive the Corefile may use.
pub struct Entry {
    /// The directive name.
    pub name: &'static str,
    /// How to build it; `None` for CoreDNS plugins this build does not include.
    pub setup: Option<SetupFn>,
    /// Whether the directive may appear more than once in a block.
    pub repeatable: bool,
    /// Whether all its lines in a block build one plugin: `setup` gets one directive
    /// whose block holds every line, in Corefile order (`rewrite`, whose `stop` ends
    /// the rules of all its lines, as CoreDNS's one handler per block does).
    pub grouped: bool,
}

const fn missing(name: &'static str) -> Entry {
    Entry {
        name,
        setup: None,
        repeatable: false,
        grouped: false,
    }
}

const fn once(name: &'static str, setup: SetupFn) -> Entry {
    Entry {
        name,
        setup: Some(setup),
        repeatable: false,
        grouped: false,
    }
}

const fn many(name: &'static str, setup: SetupFn) -> Entry {
    Entry {
        name,
        setup: Some(setup),
        repeatable: true,
        grouped: false,
    }
}

const fn grouped(name: &'static str, setup: SetupFn) -> Entry {
    Entry {
        name,
        setup: Some(setup),
        repeatable: true,
        grouped: true,
    }
}

/// Every directive, in execution order (CoreDNS's `plugin.cfg`).
///
/// One dependency between plugins rests on this order and nothing else: `loadbalance`
/// must run before the plugins that answer on the wire path in shuffled order
/// (`cache`, `kubernetes`), because it asks for the order there through
/// `WireQuery::set_order` before they are offered the query. A test holds it.
pub static PLUGINS: &[Entry] = &[
    missing("metadata"),
    missing("geoip"),
    missing("cancel"),
    missing("tls"),
    missing("quic"),
    missing("timeouts"),
    missing("multisocket"),
    once("reload", clusterdns_reload::setup),
    missing("nsid"),
    once("bufsize", clusterdns_bufsize::setup),
    many("bind", clusterdns_bind::setup),
    missing("debug"),
    missing("trace"),
    once("ready", clusterdns_ready::setup),
    once("health", clusterdns_health::setup),
    missing("pprof"),
    missing("shed"),
    once("prometheus", clusterdns_prometheus::setup),
    once("errors", clusterdns_errors::setup),
    many("log", clusterdns_log::setup),
    missing("dnstap"),
    missing("local"),
    once("dns64", clusterdns_dns64::setup),
    missing("any"),
    once("chaos", clusterdns_chaos::setup),
    once("loadbalance", clusterdns_loadbalance::setup),
    missing("tsig"),
    grouped("rewrite", clusterdns_rewrite::setup),
    once("autopath", clusterdns_autopath::setup),
    missing("acl"),
    once("cache", clusterdns_cache::setup),
    missing("header"),
    missing("dnssec"),
    missing("minimal"),
    many("template", clusterdns_template::setup),
    missing("transfer"),
    once("hosts", clusterdns_hosts::setup),
    missing("route53"),
    missing("azure"),
    missing("clouddns"),
    once("k8s_external", clusterdns_k8s_external::setup),
    once("kubernetes", clusterdns_kubernetes::setup),
    missing("file"),
    missing("auto"),
    missing("secondary"),
    missing("etcd"),
    once("loop", clusterdns_loop::setup),
    many("forward", clusterdns_forward::setup),
    missing("grpc"),
    missing("erratic"),
    once("whoami", clusterdns_whoami::setup),
    missing("on"),
    missing("sign"),
    missing("view"),
    missing("nomad"),
];

/// The directives this build includes, in execution order.
pub fn compiled_in() -> impl Iterator<Item = &'static str> {
    PLUGINS.iter().filter(|e| e.setup.is_some()).map(|e| e.name)
}

/// Builds the chain of one server block. Every directive is checked, so that all
/// errors of the block are reported at once, not only the first. `route_origins` gets,
/// for each HTTP route a directive adds to `ctx.http_routes`, that directive's name
/// token (so that a route whose address cannot be bound is reported at its line).
pub fn build_chain(
    directives: &[Directive],
    ctx: &mut SetupCtx,
    route_origins: &mut Vec<Token>,
) -> Result<Chain, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut ordered: Vec<(usize, usize)> = Vec::with_capacity(directives.len());
    for (line, directive) in directives.iter().enumerate() {
        let name = directive.name.text.as_str();
        match PLUGINS.iter().position(|e| e.name == name) {
            Some(index) => ordered.push((index, line)),
            None => errors.push(directive.name.error(format!("unknown directive {name:?}"))),
        }
    }
    // Stable: lines of the same directive keep their Corefile order.
    ordered.sort_by_key(|(index, _)| *index);
    let mut chain = Vec::new();
    let mut previous: Option<usize> = None;
    for (index, line) in ordered {
        let entry = &PLUGINS[index];
        let mut directive = &directives[line];
        if entry.grouped && previous == Some(index) {
            // Built with the first line.
            continue;
        }
        let group;
        if entry.grouped {
            group = Directive {
                name: directive.name.clone(),
                args: Vec::new(),
                block: Some(
                    directives
                        .iter()
                        .filter(|d| d.name.text == entry.name)
                        .cloned()
                        .collect(),
                ),
            };
            directive = &group;
        }
        if previous == Some(index) && !entry.repeatable {
            errors.push(directive.name.error(format!(
                "plugin {}: this plugin can only be used once per server block",
                entry.name
            )));
            continue;
        }
        previous = Some(index);
        let Some(setup) = entry.setup else {
            errors.push(directive.name.error(format!(
                "plugin {} is not compiled into this build of clusterdns",
                entry.name
            )));
            continue;
        };
        let result = setup(directive, ctx);
        let added = ctx.http_routes.len().saturating_sub(route_origins.len());
        route_origins.extend(std::iter::repeat_n(directive.name.clone(), added));
        match result {
            Ok(Some(plugin)) => chain.push(plugin),
            Ok(None) => {}
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(chain)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(name: &str) -> usize {
        PLUGINS
            .iter()
            .position(|e| e.name == name)
            .unwrap_or_else(|| panic!("{name} is in the table"))
    }

    /// `loadbalance` sets the wire path's answer order before the plugins that honour it
    /// are asked (see [`PLUGINS`]).
    #[test]
    fn loadbalance_runs_before_the_plugins_that_shuffle_for_it() {
        for later in ["cache", "hosts", "kubernetes"] {
            assert!(position("loadbalance") < position(later), "{later}");
        }
    }

    #[test]
    fn every_plugin_is_named_as_its_directive() {
        let ctx = || {
            SetupCtx::new(
                vec![clusterdns_api::proto::rr::Name::root()],
                53,
                std::path::PathBuf::from("."),
                clusterdns_api::Readiness::new(),
            )
        };
        for name in ["cache", "errors", "loadbalance", "whoami", "loop", "log"] {
            let directive = Directive {
                name: clusterdns_api::Token::synthetic(name),
                args: Vec::new(),
                block: None,
            };
            let chain = build_chain(
                std::slice::from_ref(&directive),
                &mut ctx(),
                &mut Vec::new(),
            )
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(chain.len(), 1, "{name}");
            assert_eq!(chain[0].name(), name);
        }
    }

    /// All `rewrite` lines of a block are one plugin (one rule list), wherever they
    /// are written; `template` lines are one plugin each, in Corefile order.
    #[test]
    fn grouped_directives_build_one_plugin() {
        let line = |name: &str, args: &[&str]| Directive {
            name: clusterdns_api::Token::synthetic(name),
            args: args
                .iter()
                .map(|a| clusterdns_api::Token::synthetic(a))
                .collect(),
            block: None,
        };
        let directives = [
            line("rewrite", &["name", "a.example.", "b.example."]),
            line("template", &["IN", "AAAA"]),
            line("whoami", &[]),
            line("rewrite", &["continue", "type", "A", "AAAA"]),
            line("template", &["IN", "MX"]),
        ];
        let mut ctx = SetupCtx::new(
            vec![clusterdns_api::proto::rr::Name::root()],
            53,
            std::path::PathBuf::from("."),
            clusterdns_api::Readiness::new(),
        );
        let chain = build_chain(&directives, &mut ctx, &mut Vec::new()).unwrap();
        let names: Vec<&str> = chain.iter().map(|p| p.name()).collect();
        assert_eq!(names, ["rewrite", "template", "template", "whoami"]);
        // A bad line among them is reported once, at its position.
        let bad = [
            line("rewrite", &["name", "a.example.", "b.example."]),
            line("rewrite", &["bogus", "x", "y"]),
        ];
        let errors = build_chain(&bad, &mut ctx, &mut Vec::new()).err().unwrap();
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].message.contains("invalid rule type"),
            "{errors:?}"
        );
    }
}
