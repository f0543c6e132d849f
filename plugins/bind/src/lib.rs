//! `bind`: the addresses a server block listens on.
//!
//! By default a server listens on every address. `bind` narrows that to the listed IP
//! addresses, or to the addresses of the listed network interfaces as they are when
//! the Corefile is loaded (or reloaded). It takes no part in answering queries: it
//! only adds addresses to [`SetupCtx::bind`], which the server reads when it opens its
//! listeners.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::net::IpAddr;
use std::sync::Arc;

use clusterdns_api::{ConfigError, Directive, Plugin, SetupCtx, Token};

/// The directive name.
const NAME: &str = "bind";

/// One address of one network interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceAddr {
    /// The interface's name, e.g. `eth0`.
    pub name: String,
    /// One of its addresses.
    pub ip: IpAddr,
}

/// Reads `bind ADDRESS|INTERFACE... [{ except ADDRESS|INTERFACE... }]` and adds the
/// addresses to `ctx.bind`. Several `bind` lines in a block add up; `except` only
/// removes addresses named on its own line. Always returns `Ok(None)`.
pub fn setup(
    directive: &Directive,
    ctx: &mut SetupCtx,
) -> Result<Option<Arc<dyn Plugin>>, ConfigError> {
    let interfaces = host_interfaces();
    setup_with_interfaces(directive, ctx, &interfaces)?;
    Ok(None)
}

/// The host's interface addresses. Failing to list them is not fatal, as in CoreDNS:
/// IP addresses still work, only interface names will then be unknown.
fn host_interfaces() -> Vec<InterfaceAddr> {
    match if_addrs::get_if_addrs() {
        Ok(list) => list
            .into_iter()
            .map(|iface| InterfaceAddr {
                ip: iface.ip(),
                name: iface.name,
            })
            .collect(),
        Err(e) => {
            tracing::warn!(
                target: "clusterdns::bind",
                "plugin/bind: failed to list network interfaces, cannot bind by interface name: {e}"
            );
            Vec::new()
        }
    }
}

/// [`setup`] against a given list of interfaces, so tests do not depend on the host.
pub fn setup_with_interfaces(
    directive: &Directive,
    ctx: &mut SetupCtx,
    interfaces: &[InterfaceAddr],
) -> Result<(), ConfigError> {
    if directive.args.is_empty() {
        return Err(directive.error("at least one address or interface name is expected"));
    }
    let mut excluded = Vec::new();
    for option in directive.block_lines() {
        match option.name.text.as_str() {
            "except" => {
                option.no_block()?;
                if option.args.is_empty() {
                    return Err(option.name.error(format!(
                        "{NAME}: except needs at least one address or interface name"
                    )));
                }
                for token in &option.args {
                    excluded.extend(resolve(token, interfaces)?);
                }
            }
            _ => return Err(directive.unknown_option(option)),
        }
    }

    let mut added = 0;
    for token in &directive.args {
        for ip in resolve(token, interfaces)? {
            if excluded.contains(&ip) {
                continue;
            }
            added += 1;
            // The same address twice (`bind lo 127.0.0.1`) would make the server try
            // to open the same socket twice.
            if !ctx.bind.contains(&ip) {
                ctx.bind.push(ip);
            }
        }
    }
    if added == 0 {
        // An empty list means "every address" to the server: the opposite of what a
        // `bind` whose addresses are all excluded asks for.
        return Err(directive.error("every address is excluded by except"));
    }
    Ok(())
}

/// The addresses `token` names: those of the interface of that name (interface names
/// win, as in CoreDNS), else the token as an IP address.
fn resolve(token: &Token, interfaces: &[InterfaceAddr]) -> Result<Vec<IpAddr>, ConfigError> {
    let mut found = false;
    let mut ips = Vec::new();
    for iface in interfaces.iter().filter(|i| i.name == token.text) {
        found = true;
        if is_ipv6_link_local(iface.ip) {
            // Listening on a link-local IPv6 address needs the interface as scope,
            // which a plain address cannot carry.
            tracing::warn!(
                target: "clusterdns::bind",
                "plugin/bind: skipping link-local address {} of interface {}",
                iface.ip,
                iface.name
            );
            continue;
        }
        if !ips.contains(&iface.ip) {
            ips.push(iface.ip);
        }
    }
    if found {
        return Ok(ips);
    }
    token
        .text
        .parse::<IpAddr>()
        .map(|ip| vec![ip])
        .map_err(|_| {
            token.error(format!(
                "{NAME}: not a valid IP address or interface name: {:?}",
                token.text
            ))
        })
}

/// Whether `ip` is in `fe80::/10`.
fn is_ipv6_link_local(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}

#[cfg(test)]
mod tests;
