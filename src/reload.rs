//! Re-reading the Corefile while serving (the `reload` directive).
//!
//! Every interval (plus jitter) the Corefile is read again; when its SHA-512 changed,
//! the new configuration is built beside the running one and put in service by
//! [`Shared::load`], which keeps the listeners that stay. A reload is all or nothing: a
//! broken file, or one naming an address that cannot be bound (a port in use, an
//! address the host does not have), keeps the old configuration with every one of its
//! DNS and HTTP listeners, is logged with the error's position, and counts in
//! `coredns_reload_failed_total`; the same content is not retried until the file
//! changes again.

use std::path::Path;
use std::sync::{Arc, LazyLock};

use clusterdns_api::ConfigError;
use clusterdns_api::metrics::register;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use sha2::{Digest, Sha512};
use tokio_util::sync::CancellationToken;

use crate::Shared;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    hash: &'static str,
    value: String,
}

struct ReloadMetrics {
    failed: Counter,
    version: Family<VersionLabels, Gauge>,
}

static METRICS: LazyLock<ReloadMetrics> = LazyLock::new(|| {
    let metrics = ReloadMetrics {
        failed: Counter::default(),
        version: Family::default(),
    };
    register(
        "reload_failed",
        "Counter of the number of failed reload attempts",
        metrics.failed.clone(),
    );
    register(
        "reload_version_info",
        "A metric with a constant '1' value labeled by hash, and value which type of hash generated",
        metrics.version.clone(),
    );
    metrics
});

/// Reads the Corefile's text.
pub(crate) fn read_corefile(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| {
        ConfigError::in_file(
            &path.to_string_lossy(),
            format!("cannot read the Corefile: {e}"),
        )
    })
}

/// The hex SHA-512 of a Corefile's text.
pub(crate) fn digest(text: &str) -> String {
    hex::encode(Sha512::digest(text.as_bytes()))
}

/// Publishes the digest of the configuration in service.
pub(crate) fn set_version(digest: &str) {
    METRICS.version.clear();
    METRICS
        .version
        .get_or_create(&VersionLabels {
            hash: "sha512",
            value: digest.to_owned(),
        })
        .set(1);
}

/// Checks the Corefile until `stop` or until a reload removes the `reload` directive.
pub(crate) async fn watch(shared: Arc<Shared>, stop: CancellationToken) {
    let mut failed_digest: Option<String> = None;
    loop {
        let (interval, jitter, current) = {
            let running = shared.running.lock().await;
            let Some(clusterdns_api::ReloadSchedule {
                every: interval,
                jitter,
            }) = running.reload
            else {
                return;
            };
            (interval, jitter, running.digest.clone())
        };
        let wait = interval + jitter.mul_f64(rand::random::<f64>());
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        let text = match read_corefile(&shared.options.conf) {
            Ok(text) => text,
            Err(error) => {
                tracing::error!(%error, "reload: keeping the running configuration");
                continue;
            }
        };
        let digest = digest(&text);
        if digest == current || failed_digest.as_deref() == Some(digest.as_str()) {
            continue;
        }
        match shared.load(&text).await {
            Ok(()) => {
                failed_digest = None;
                tracing::info!(sha512 = %&digest[..16], "reload: new configuration in service");
            }
            Err(error) => {
                METRICS.failed.inc();
                shared
                    .failed_reloads
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                failed_digest = Some(digest);
                tracing::error!(
                    "reload: cannot put the new Corefile in service, keeping the running configuration and all of its listeners:\n{error}"
                );
            }
        }
    }
}
