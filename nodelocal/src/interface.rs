//! The dummy interface that holds the local IPs (node-cache's `-setupinterface`), made
//! with iproute2's `ip`. A dummy interface accepts addresses and never sends: the node's
//! kernel delivers packets for those addresses locally, to whichever process listens.
//!
//! A kernel built without the dummy driver (some minimal VM kernels) refuses
//! `type dummy`; an empty bridge is made instead: with no ports it sends and forwards
//! nothing either, and its addresses are local addresses all the same.

use std::net::IpAddr;

use crate::command::{CommandError, run};

/// What [`DummyInterface::ensure`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensured {
    /// Everything was in place.
    Present,
    /// The interface was missing and has been created.
    Created,
    /// The interface was there but down or short of addresses; it has been put right.
    Repaired,
}

/// Why the interface could not be checked or made.
#[derive(Debug, thiserror::Error)]
pub enum InterfaceError {
    /// Creating the missing interface failed (node-cache's `interface_add`).
    #[error("cannot create interface {name}: {source}")]
    Add { name: String, source: CommandError },
    /// Checking or repairing an existing one failed (node-cache's `interface_check`).
    #[error("cannot check interface {name}: {source}")]
    Check { name: String, source: CommandError },
}

/// The interface `name` with `ips` on it.
#[derive(Debug, Clone)]
pub struct DummyInterface {
    name: String,
    ips: Vec<IpAddr>,
}

impl DummyInterface {
    pub fn new(name: &str, ips: &[IpAddr]) -> Self {
        Self {
            name: name.to_owned(),
            ips: ips.to_vec(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Makes the interface exist, up, with every local IP (addresses someone else added
    /// are left alone).
    pub fn ensure(&self) -> Result<Ensured, InterfaceError> {
        let check = |source| InterfaceError::Check {
            name: self.name.clone(),
            source,
        };
        let Some(state) = self.state().map_err(check)? else {
            let add = |source| InterfaceError::Add {
                name: self.name.clone(),
                source,
            };
            create_link(&self.name).map_err(add)?;
            self.complete(&[]).map_err(add)?;
            return Ok(Ensured::Created);
        };
        if state.up && self.ips.iter().all(|ip| state.addresses.contains(ip)) {
            return Ok(Ensured::Present);
        }
        self.complete(&state.addresses).map_err(check)?;
        Ok(Ensured::Repaired)
    }

    /// Adds the addresses missing from `present` and brings the link up.
    fn complete(&self, present: &[IpAddr]) -> Result<(), CommandError> {
        for ip in self.ips.iter().filter(|ip| !present.contains(ip)) {
            let prefix = if ip.is_ipv4() { 32 } else { 128 };
            let address = format!("{ip}/{prefix}");
            run("ip", &["addr", "add", &address, "dev", &self.name], None)?;
        }
        run("ip", &["link", "set", &self.name, "up"], None)?;
        Ok(())
    }

    /// Deletes the interface (and with it its addresses); a missing one is no error.
    pub fn remove(&self) -> Result<bool, CommandError> {
        match run("ip", &["link", "del", &self.name], None) {
            Ok(_) => Ok(true),
            Err(error) if is_missing(&error) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// The interface's flags and addresses; `None` when it does not exist.
    fn state(&self) -> Result<Option<LinkState>, CommandError> {
        let link = match run("ip", &["-o", "link", "show", "dev", &self.name], None) {
            Ok(text) => text,
            Err(error) if is_missing(&error) => return Ok(None),
            Err(error) => return Err(error),
        };
        let addresses = run("ip", &["-o", "addr", "show", "dev", &self.name], None)?;
        Ok(Some(LinkState {
            up: link_is_up(&link),
            addresses: parse_addresses(&addresses),
        }))
    }
}

/// `ip link add NAME type dummy`, or an empty bridge where the kernel has no dummy driver.
fn create_link(name: &str) -> Result<(), CommandError> {
    match run("ip", &["link", "add", name, "type", "dummy"], None) {
        Ok(_) => Ok(()),
        Err(error) if error.stderr().contains("Unknown device type") => {
            tracing::warn!(
                "node-local: this kernel has no dummy interfaces; {name} is an empty bridge instead"
            );
            run("ip", &["link", "add", name, "type", "bridge"], None).map(drop)
        }
        Err(error) => Err(error),
    }
}

struct LinkState {
    up: bool,
    addresses: Vec<IpAddr>,
}

fn is_missing(error: &CommandError) -> bool {
    let message = error.stderr();
    message.contains("does not exist") || message.contains("Cannot find device")
}

/// `5: nodelocaldns: <BROADCAST,NOARP,UP,LOWER_UP> mtu ...`: is UP among the flags?
fn link_is_up(line: &str) -> bool {
    line.split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .is_some_and(|(flags, _)| flags.split(',').any(|flag| flag == "UP"))
}

/// The addresses in `ip -o addr show` lines (`... inet 169.254.20.10/32 scope ...`).
fn parse_addresses(text: &str) -> Vec<IpAddr> {
    let mut addresses = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        while let Some(word) = words.next() {
            if (word == "inet" || word == "inet6")
                && let Some(ip) = words
                    .next()
                    .and_then(|w| w.split('/').next())
                    .and_then(|w| w.parse().ok())
            {
                addresses.push(ip);
            }
        }
    }
    addresses
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_ip_output() {
        assert!(link_is_up(
            "7: nodelocaldns: <BROADCAST,NOARP,UP,LOWER_UP> mtu 1500 qdisc noqueue state UNKNOWN"
        ));
        assert!(!link_is_up(
            "7: nodelocaldns: <BROADCAST,NOARP> mtu 1500 qdisc noop state DOWN"
        ));
        let text = "7: nodelocaldns    inet 169.254.20.10/32 scope global nodelocaldns\\       valid_lft forever preferred_lft forever
7: nodelocaldns    inet 10.96.0.10/32 scope global nodelocaldns\\       valid_lft forever preferred_lft forever
7: nodelocaldns    inet6 fd00::10/128 scope global \\       valid_lft forever preferred_lft forever
";
        assert_eq!(
            parse_addresses(text),
            [
                "169.254.20.10".parse::<IpAddr>().unwrap(),
                "10.96.0.10".parse().unwrap(),
                "fd00::10".parse().unwrap()
            ]
        );
    }
}
