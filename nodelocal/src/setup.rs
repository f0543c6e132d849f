//! The node set-up's life: prepared before the server binds (the Corefile template
//! filled in, the interface made, so the local IPs can be bound), the rules installed
//! once the server serves (as node-cache does, so a cache that cannot start does not
//! take the node's DNS traffic), checked every `-syncinterval`, and removed on exit
//! unless `-skipteardown` is given or a successor process serves the same addresses.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::corefile::{self, TemplateError};
use crate::flags::{DEFAULT_BASE_COREFILE, NodeLocalFlags};
use crate::interface::{self, DummyInterface, InterfaceError};
use crate::metrics;
use crate::rules::{self, Backend, Rules, RulesError};
use crate::successor;

/// In node-local mode a `cache` without a `serve_stale` line (NodeLocal DNSCache's
/// template has none) keeps expired answers this long and serves them when the upstream
/// (kube-dns-upstream, or the node's resolvers) fails: CoreDNS's own `serve_stale`
/// default, long enough to outlast a failed rollout of the cluster DNS or a node cut off
/// from it. A stale answer is only given when the alternative is SERVFAIL; once the
/// upstream answers again, fresh answers replace it.
pub const STALE_UP_TO: Duration = Duration::from_secs(3600);
/// The TTL of stale answers: RFC 8767's 30 s, so that clients ask again soon (0, CoreDNS's
/// default, makes every client re-ask at once).
pub const STALE_RESPONSE_TTL: Duration = Duration::from_secs(30);
/// After a failed refresh, stale answers for an entry are given without asking the
/// upstream again for this long (RFC 8767's 30 s): while it is down, at most one query
/// per name and 30 s waits for the upstream's failure.
pub const STALE_FAILURE_RECHECK: Duration = Duration::from_secs(30);

/// A set-up step that stops the start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot read the Corefile template {path}: {source}")]
    ReadTemplate {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Corefile template {path}: {source}")]
    Template {
        path: PathBuf,
        source: TemplateError,
    },
    #[error("the Corefile template {0} is also the Corefile (-conf): give another -conf")]
    TemplateIsCorefile(PathBuf),
    #[error("cannot write the Corefile {path}: {source}")]
    WriteCorefile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Interface(#[from] InterfaceError),
    #[error(transparent)]
    Rules(#[from] RulesError),
}

/// The node's interface and rules, owned by this process while it runs.
pub struct NodeSetup {
    flags: NodeLocalFlags,
    dns_port: u16,
    interface: Option<DummyInterface>,
    rules: Option<Rules>,
    sync: Option<(mpsc::Sender<()>, JoinHandle<Option<Rules>>)>,
}

impl NodeSetup {
    /// Before the server starts: fills in the Corefile template into `conf` (when there
    /// is one), chooses the firewall and makes the interface.
    pub fn prepare(flags: NodeLocalFlags, dns_port: u16, conf: &Path) -> Result<Self, SetupError> {
        metrics::init();
        clusterdns_cache::set_default_serve_stale(
            STALE_UP_TO,
            STALE_RESPONSE_TTL,
            STALE_FAILURE_RECHECK,
        );
        render_template(&flags, conf).inspect_err(|_| metrics::count_error("configmap"))?;
        let rules = if flags.setup_rules {
            let backend = Backend::choose(flags.firewall)
                .inspect_err(|error| metrics::count_error(error.error_type()))?;
            tracing::info!(
                firewall = backend.name(),
                "node-local: rules go to {}",
                backend.name()
            );
            Some(Rules::new(
                backend,
                &flags.local_ips,
                dns_port,
                flags.health_port,
            ))
        } else {
            None
        };
        let interface = flags
            .setup_interface
            .then(|| DummyInterface::new(&flags.interface_name, &flags.local_ips));
        if let Some(interface) = &interface {
            ensure_interface(interface)?;
        }
        Ok(Self {
            flags,
            dns_port,
            interface,
            rules,
            sync: None,
        })
    }

    /// Once the server serves: installs the rules and starts the periodic check.
    pub fn start_sync(&mut self) {
        let mut rules = self.rules.take();
        let interface = self.interface.clone();
        if let Some(rules) = &mut rules {
            ensure_rules(rules);
        }
        if let Some(path) = &self.flags.ready_file
            && let Err(error) = std::fs::write(path, format!("{}\n", std::process::id()))
        {
            tracing::error!(%error, path = %path.display(), "node-local: cannot write the ready file");
        }
        let interval = self.flags.sync_interval;
        let (stop, stopped) = mpsc::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("node-local-sync".into())
            .spawn(move || {
                sync_loop(interval, &stopped, interface.as_ref(), rules.as_mut());
                rules
            });
        match spawned {
            Ok(handle) => self.sync = Some((stop, handle)),
            Err(error) => tracing::error!(%error, "node-local: cannot start the sync thread"),
        }
    }

    /// On exit, after the server's listeners are closed: removes the interface and
    /// rules, unless told to keep them or a successor serves the same addresses.
    pub fn finish(mut self) {
        if let Some(path) = &self.flags.ready_file {
            let _ = std::fs::remove_file(path);
        }
        if let Some((stop, handle)) = self.sync.take() {
            drop(stop);
            match handle.join() {
                Ok(rules) => self.rules = rules,
                Err(_) => tracing::error!("node-local: the sync thread panicked"),
            }
        }
        if self.flags.skip_teardown {
            tracing::info!("node-local: -skipteardown: leaving the interface and rules");
            return;
        }
        if let Some(ip) = self
            .flags
            .local_ips
            .iter()
            .find(|ip| successor::address_in_use(**ip, self.dns_port))
        {
            tracing::info!(
                %ip,
                "node-local: another process serves {ip}:{}; leaving the interface and rules to it",
                self.dns_port
            );
            return;
        }
        tracing::info!("node-local: tearing down");
        if let Some(rules) = &mut self.rules
            && let Err(error) = rules.remove()
        {
            metrics::count_error(error.error_type());
            tracing::error!(%error, "node-local: cannot remove the rules");
        }
        if let Some(interface) = &self.interface
            && let Err(error) = interface.remove()
        {
            metrics::count_error("interface_check");
            tracing::error!(%error, "node-local: cannot remove interface {}", interface.name());
        }
    }
}

/// Checks the interface and rules every `interval` until `stop` is dropped.
fn sync_loop(
    interval: Duration,
    stop: &mpsc::Receiver<()>,
    interface: Option<&DummyInterface>,
    mut rules: Option<&mut Rules>,
) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(interval) {
        if let Some(interface) = interface {
            // Logged and counted inside; the next round tries again.
            let _ = ensure_interface(interface);
        }
        if let Some(rules) = rules.as_deref_mut() {
            ensure_rules(rules);
        }
    }
}

fn ensure_interface(interface: &DummyInterface) -> Result<(), InterfaceError> {
    match interface.ensure() {
        Ok(interface::Ensured::Present) => Ok(()),
        Ok(done) => {
            tracing::info!(?done, "node-local: interface {}", interface.name());
            Ok(())
        }
        Err(error) => {
            metrics::count_error(match error {
                InterfaceError::Add { .. } => "interface_add",
                InterfaceError::Check { .. } => "interface_check",
            });
            tracing::error!(%error, "node-local: interface");
            Err(error)
        }
    }
}

fn ensure_rules(rules: &mut Rules) {
    match rules.ensure() {
        Ok(rules::Ensured::Present) => {}
        Ok(rules::Ensured::Installed) => {
            tracing::info!(
                firewall = rules.backend().name(),
                "node-local: rules installed"
            );
        }
        Err(error) => {
            metrics::count_error(error.error_type());
            tracing::error!(%error, "node-local: rules");
        }
    }
}

/// The template (`-basecorefile`, or node-cache's default path when it exists) filled
/// in, or `None` when there is no template: what `--check` checks in node-local mode.
pub fn filled_in_template(flags: &NodeLocalFlags) -> Result<Option<String>, SetupError> {
    match template_path(flags) {
        Some(path) => fill_in(flags, &path).map(Some),
        None => Ok(None),
    }
}

fn template_path(flags: &NodeLocalFlags) -> Option<PathBuf> {
    match &flags.base_corefile {
        Some(path) => Some(path.clone()),
        None if Path::new(DEFAULT_BASE_COREFILE).is_file() => {
            Some(PathBuf::from(DEFAULT_BASE_COREFILE))
        }
        None => None,
    }
}

/// Fills in the template and writes the result to `conf`, replacing it in one rename.
fn render_template(flags: &NodeLocalFlags, conf: &Path) -> Result<(), SetupError> {
    let Some(path) = template_path(flags) else {
        return Ok(());
    };
    if path == conf {
        return Err(SetupError::TemplateIsCorefile(path));
    }
    let text = fill_in(flags, &path)?;
    let write_error = |source| SetupError::WriteCorefile {
        path: conf.to_owned(),
        source,
    };
    let mut partial = conf.as_os_str().to_owned();
    partial.push(".partial");
    std::fs::write(&partial, text).map_err(write_error)?;
    std::fs::rename(&partial, conf).map_err(write_error)?;
    tracing::info!(template = %path.display(), corefile = %conf.display(), "node-local: Corefile written from the template");
    Ok(())
}

/// The template at `path` with node-cache's variables filled in from the flags and the
/// environment.
fn fill_in(flags: &NodeLocalFlags, path: &Path) -> Result<String, SetupError> {
    let template = std::fs::read_to_string(path).map_err(|source| SetupError::ReadTemplate {
        path: path.to_owned(),
        source,
    })?;
    corefile::render(
        &template,
        &flags.local_ips,
        &flags.upstream_service,
        |name| std::env::var(name).ok(),
    )
    .map_err(|source| SetupError::Template {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::flags::split_flags;

    fn flags(args: &[&str]) -> NodeLocalFlags {
        split_flags(args.iter().map(|a| a.to_string()))
            .unwrap()
            .1
            .unwrap()
    }

    #[test]
    fn the_template_is_written_to_the_corefile() {
        let dir = std::env::temp_dir().join(format!("nodelocal-template-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let base = dir.join("Corefile.base");
        let conf = dir.join("Corefile");
        std::fs::write(&base, ".:53 {\n    bind __PILLAR__LOCAL__DNS__\n    forward . __PILLAR__UPSTREAM__SERVERS__\n}\n").unwrap();
        let flags = flags(&[
            "-localip",
            "169.254.20.10",
            "-basecorefile",
            base.to_str().unwrap(),
        ]);
        render_template(&flags, &conf).unwrap();
        assert_eq!(
            std::fs::read_to_string(&conf).unwrap(),
            ".:53 {\n    bind 169.254.20.10\n    forward . /etc/resolv.conf\n}\n"
        );
        assert!(matches!(
            render_template(&flags, &base),
            Err(SetupError::TemplateIsCorefile(_))
        ));
        let missing = self::flags(&[
            "-localip",
            "169.254.20.10",
            "-basecorefile",
            "/nonexistent/x",
        ]);
        assert!(matches!(
            render_template(&missing, &conf),
            Err(SetupError::ReadTemplate { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
