//! From parsed server blocks to what the server runs: chains, listeners, HTTP routes.
//!
//! Blocks on the same port and listen addresses share one listener, which routes each
//! query to the block with the longest matching zone. A block whose keys name several
//! ports is served on each of them.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clusterdns_api::metrics::Label;
use clusterdns_api::{ConfigError, HttpRoute, Plugin, Readiness, ReloadSchedule, SetupCtx, Token};
use hickory_proto::rr::Name;

use crate::config::parse_key;
use crate::corefile::ServerBlock;
use crate::metrics::DNS_METRICS;
use crate::registry::build_chain;
use crate::server::{Block, Routes};

/// One listener to open.
pub struct ListenerPlan {
    /// The address to bind; `None` for every address.
    pub ip: Option<IpAddr>,
    /// The port.
    pub port: u16,
    /// The metrics label, `dns://:53` or `dns://127.0.0.1:53`.
    pub label: String,
    /// The blocks it serves.
    pub routes: Arc<Routes>,
    /// The server block key that asks for it, to name in errors.
    pub key: Token,
}

/// One HTTP route and the directive that asks for it (named when its address cannot be
/// bound).
pub struct PlannedRoute {
    /// The route.
    pub route: HttpRoute,
    /// The directive's name token (`health`, `ready`, `prometheus`).
    pub directive: Token,
}

/// Everything a Corefile asks the server to run.
pub struct Plan {
    /// DNS listeners.
    pub listeners: Vec<ListenerPlan>,
    /// HTTP endpoints.
    pub http_routes: Vec<PlannedRoute>,
    /// Lameduck delay on SIGTERM (the longest any block asks for).
    pub lameduck: Option<Duration>,
    /// Every chain plugin, for readiness.
    pub plugins: Vec<Arc<dyn Plugin>>,
    /// Corefile check interval and jitter (`reload`).
    pub reload: Option<ReloadSchedule>,
}

/// A block after its plugins were built, before grouping into listeners.
struct BuiltBlock {
    by_port: BTreeMap<u16, Vec<(Name, Token)>>,
    block_chain: Vec<Arc<dyn Plugin>>,
    names: Vec<&'static str>,
    bind: Vec<IpAddr>,
    metrics: bool,
    udp_payload: u16,
}

/// Builds every plugin of every block and groups the blocks into listeners. All errors
/// are returned, not only the first.
/// Parses Corefile `text`, named `conf` in errors (its relative paths read from
/// `conf`'s directory), and plans it: what `--check`, a start, a reload and the inline
/// server all do first.
pub fn plan_text(
    text: &str,
    conf: &Path,
    default_port: u16,
    readiness: &Arc<Readiness>,
) -> Result<Plan, Vec<ConfigError>> {
    let base_dir = conf.parent().unwrap_or(Path::new("."));
    let blocks = crate::corefile::parse_str(text, &conf.to_string_lossy(), base_dir)
        .map_err(|error| vec![error])?;
    plan(&blocks, conf, default_port, readiness)
}

pub fn plan(
    blocks: &[ServerBlock],
    corefile: &Path,
    default_port: u16,
    readiness: &Arc<Readiness>,
) -> Result<Plan, Vec<ConfigError>> {
    let base_dir = corefile.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut errors = Vec::new();
    let mut built = Vec::new();
    let mut http_routes = Vec::new();
    let mut lameduck: Option<Duration> = None;
    let mut reload = None;
    let mut plugins = Vec::new();
    for block in blocks {
        let mut by_port: BTreeMap<u16, Vec<(Name, Token)>> = BTreeMap::new();
        for key in &block.keys {
            match parse_key(key, default_port) {
                Ok(parsed) => {
                    for zone in parsed.zones {
                        by_port
                            .entry(parsed.port)
                            .or_default()
                            .push((zone, key.clone()));
                    }
                }
                Err(error) => errors.push(error),
            }
        }
        let zones: Vec<Name> = by_port.values().flatten().map(|(z, _)| z.clone()).collect();
        let port = by_port.keys().next().copied().unwrap_or(default_port);
        let mut ctx = SetupCtx::new(zones, port, base_dir.clone(), readiness.clone());
        let mut origins = Vec::new();
        let built_chain = build_chain(&block.directives, &mut ctx, &mut origins);
        // `autopath @kubernetes` and `k8s_external` read the block's `kubernetes`.
        let unmet = ctx.cluster.unmet();
        match built_chain {
            Ok(_) if !unmet.is_empty() => errors.extend(unmet),
            Ok(chain) => {
                let mut names: Vec<&'static str> =
                    chain.iter().map(|plugin| plugin.name()).collect();
                // `prometheus` adds nothing to the chain here (the server records the
                // per-query metrics), but in CoreDNS it is a handler of the chain, and
                // dashboards count it among the enabled plugins.
                if ctx.metrics {
                    names.push("prometheus");
                }
                let block_chain: Vec<Arc<dyn Plugin>> = chain;
                plugins.extend(block_chain.iter().cloned());
                http_routes.extend(
                    ctx.http_routes
                        .drain(..)
                        .zip(origins)
                        .map(|(route, directive)| PlannedRoute { route, directive }),
                );
                lameduck = lameduck.max(ctx.lameduck);
                reload = reload.or(ctx.reload);
                built.push(BuiltBlock {
                    by_port,
                    block_chain,
                    names,
                    bind: ctx.bind.clone(),
                    metrics: ctx.metrics,
                    udp_payload: ctx.bufsize.unwrap_or(clusterdns_api::wire::MAX_UDP_PAYLOAD),
                });
            }
            Err(mut block_errors) => errors.append(&mut block_errors),
        }
    }
    let listeners = group_listeners(built, &mut errors);
    if errors.is_empty() {
        Ok(Plan {
            listeners,
            http_routes,
            lameduck,
            plugins,
            reload,
        })
    } else {
        Err(errors)
    }
}

/// Groups blocks by (port, listen addresses) and checks that no zone is served twice
/// on the same listener.
fn group_listeners(built: Vec<BuiltBlock>, errors: &mut Vec<ConfigError>) -> Vec<ListenerPlan> {
    type GroupKey = (u16, Vec<IpAddr>);
    let mut groups: BTreeMap<GroupKey, (Vec<Arc<Block>>, Token)> = BTreeMap::new();
    let mut seen: BTreeMap<(GroupKey, Name), ()> = BTreeMap::new();
    for block in built {
        let mut bind = block.bind.clone();
        bind.sort();
        bind.dedup();
        for (port, zones) in &block.by_port {
            let group: GroupKey = (*port, bind.clone());
            for (zone, key) in zones {
                if seen.insert((group.clone(), zone.clone()), ()).is_some() {
                    errors.push(key.error(format!(
                        "zone {zone} on port {port} is served by more than one server block"
                    )));
                }
            }
            let label = server_label(&bind, *port);
            for zone in zones {
                for name in &block.names {
                    DNS_METRICS.plugin_enabled(
                        &Label::from(label.as_str()),
                        &Label::from(zone.0.to_string().as_str()),
                        name,
                    );
                }
            }
            let Some((_, first_key)) = zones.first() else {
                continue;
            };
            groups
                .entry(group)
                .or_insert_with(|| (Vec::new(), first_key.clone()))
                .0
                .push(Arc::new(Block {
                    zones: zones.iter().map(|(z, _)| z.clone()).collect(),
                    chain: block.block_chain.clone(),
                    metrics: block.metrics,
                    udp_payload: block.udp_payload,
                }));
        }
    }
    let mut listeners = Vec::new();
    for ((port, bind), (blocks, key)) in groups {
        let routes = Arc::new(Routes::new(&blocks));
        let label = server_label(&bind, port);
        if bind.is_empty() {
            listeners.push(ListenerPlan {
                ip: None,
                port,
                label,
                routes,
                key,
            });
        } else {
            for ip in bind {
                listeners.push(ListenerPlan {
                    ip: Some(ip),
                    port,
                    label: label.clone(),
                    routes: routes.clone(),
                    key: key.clone(),
                });
            }
        }
    }
    listeners
}

/// The `server` label CoreDNS uses: `dns://:53`, or with the bound address.
fn server_label(bind: &[IpAddr], port: u16) -> String {
    match bind.first() {
        None => format!("dns://:{port}"),
        Some(IpAddr::V6(ip)) => format!("dns://[{ip}]:{port}"),
        Some(IpAddr::V4(ip)) => format!("dns://{ip}:{port}"),
    }
}
