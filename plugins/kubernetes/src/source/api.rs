//! The Kubernetes API source: the seam where list/watch will plug in.
//!
//! In this build it is a placeholder that registers its feed and never syncs: the
//! plugin stays not ready (`/ready` answers 503), answers in the cluster zone are
//! SERVFAIL until `startup_timeout`, and afterwards every would-be NXDOMAIN is SERVFAIL
//! (nothing was ever synced). It logs once that the API source is missing.
//!
//! What the real source does (next step): one watcher per kind (Services,
//! EndpointSlices, Namespaces, and Pods with `pods verified`), each with its own
//! [`ChangeSink`] created in [`ApiSource::new`] for its kind. The initial list of a
//! watcher, and every relist (after 410 Gone or a reconnect), is sent as one
//! [`Change::Snapshot`](super::Change::Snapshot) of that kind, then
//! [`Change::Synced`](super::Change::Synced); watch events become
//! [`Change::Apply`](super::Change::Apply) / [`Change::Delete`](super::Change::Delete).
//! Objects are converted with the `slim_*` functions of [`crate::object`] on arrival.
//! `labels` and `namespace_labels` go to the API server as label selectors.

use tokio::runtime::Handle;

use super::{ChangeSink, Source, SourceTask};
use crate::config::ApiOptions;
use crate::selector::Selector;

/// Reads the cluster from the API server (not in this build).
pub struct ApiSource {
    options: ApiOptions,
    labels: Option<Selector>,
    namespace_labels: Option<Selector>,
    feed: ChangeSink,
}

impl ApiSource {
    /// A source for `options`, feeding `feed` (which provides every kind the plugin
    /// needs).
    pub fn new(
        options: ApiOptions,
        labels: Option<Selector>,
        namespace_labels: Option<Selector>,
        feed: ChangeSink,
    ) -> Self {
        Self {
            options,
            labels,
            namespace_labels,
            feed,
        }
    }
}

impl Source for ApiSource {
    fn describe(&self) -> String {
        match (&self.options.kubeconfig, &self.options.endpoint) {
            (Some((file, _)), _) => format!("the Kubernetes API (kubeconfig {})", file.display()),
            (None, Some(url)) => format!("the Kubernetes API at {url}"),
            (None, None) => "the Kubernetes API (in-cluster configuration)".to_owned(),
        }
    }

    fn spawn(self: Box<Self>, _runtime: &Handle) -> SourceTask {
        tracing::error!(
            source = %self.describe(),
            kinds = ?self.feed.kinds(),
            labels = ?self.labels.as_ref().map(Selector::as_str),
            namespace_labels = ?self.namespace_labels.as_ref().map(Selector::as_str),
            "kubernetes: the Kubernetes API source is not available in this build yet; \
             the cluster zone stays unsynced (use `manifests PATH` to serve from files)"
        );
        SourceTask::default()
    }
}
