//! The Kubernetes API source: one [`reflector`] per kind (list, then watch from the
//! list's resourceVersion), each feeding its own [`ChangeSink`], so the index is synced
//! once every kind has been listed. The kinds share one client and one [`ApiHealth`]:
//! when one kind gets an answer after an outage, the others retry at once.
//!
//! | kind | request | selector |
//! |---|---|---|
//! | Services | `GET /api/v1/services` | `labels` |
//! | EndpointSlices | `GET /apis/discovery.k8s.io/v1/endpointslices` | `kubernetes.io/service-name` and `labels` |
//! | Namespaces | `GET /api/v1/namespaces`, metadata only | `namespace_labels` |
//! | Pods (`pods verified`) | `GET /api/v1/pods` | `labels`, and the field selector `status.phase!=Succeeded,status.phase!=Failed` |
//!
//! Lists are paged so a large cluster never arrives as one huge response: 500 objects
//! a page (client-go's default), 100 for EndpointSlices and Pods (see `SLICE_PAGE_SIZE`
//! and `POD_PAGE_SIZE`).
//! Objects are made slim as they arrive and the full API objects are dropped at once.
//! The client is built in the background ([`client`]): a missing or broken
//! configuration is logged and retried, and the zone stays unsynced meanwhile (SERVFAIL,
//! `/ready` 503) instead of the server refusing to start.

mod backoff;
mod client;
mod health;
mod limit;
mod outage;
pub mod reflector;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kube::core::PartialObjectMeta;
use tokio::runtime::Handle;
use tokio::task::JoinSet;

use super::{ChangeSink, Source, SourceTask};
use crate::config::ApiOptions;
use crate::index::Index;
use crate::object::{
    ConvertError, Kind, KindSet, Object, SlimNamespace, slim_pod, slim_service, slim_slice,
};
use crate::selector::Selector;

pub use backoff::Schedule;
pub use client::ConnectError;
pub use reflector::Timing;

use health::ApiHealth;
use reflector::{Convert, Reflector};

/// The label every EndpointSlice of a service carries; slices without it (made by hand
/// for no service) have no DNS name.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// Objects per list page.
const PAGE_SIZE: u32 = 500;
/// EndpointSlices per list page. A page is decoded whole before its objects are made
/// slim, and a decoded endpoint takes about 1 KB against some 70 bytes in the index:
/// 500 slices of up to 100 endpoints each would need far more memory for one page than
/// the index needs for the whole cluster, and the allocator keeps that high-water mark
/// (at 10,000 services and 100,000 endpoints, pages of 100 slices instead of 500 took
/// 8 MiB off the resident size after sync).
const SLICE_PAGE_SIZE: u32 = 100;
/// The pods watched: those that may still have a running container. A pod that
/// finishes leaves the selection, and is watched as deleted (with its addresses).
const POD_FIELDS: &str = "status.phase!=Succeeded,status.phase!=Failed";
/// Pods per list page. Like slices, a page is decoded whole, and a cluster has many
/// times more pods than the pod map keeps per pod (12 bytes): pages of 500 pods left
/// more memory with the allocator than the whole map takes (see `benches/pod-map.sh`).
const POD_PAGE_SIZE: u32 = 100;
/// How long to wait before trying again to build a client from a configuration that
/// did not work (a kubeconfig that is not there yet, say).
const RECONNECT_DELAY: Duration = Duration::from_secs(5);

/// Reads the cluster from the API server.
pub struct ApiSource {
    options: ApiOptions,
    labels: Option<Selector>,
    namespace_labels: Option<Selector>,
    feeds: Vec<(Kind, ChangeSink)>,
    timing: Timing,
}

impl ApiSource {
    /// A source for `options` feeding `index` with `kinds`, one feed per kind (created
    /// here, before any query, so that readiness waits for all of them).
    pub fn new(
        options: ApiOptions,
        labels: Option<Selector>,
        namespace_labels: Option<Selector>,
        index: &Arc<Index>,
        kinds: KindSet,
    ) -> Self {
        let feeds = kinds
            .iter()
            .map(|kind| (kind, ChangeSink::new(index, KindSet::of(&[kind]))))
            .collect();
        Self {
            options,
            labels,
            namespace_labels,
            feeds,
            timing: Timing::default(),
        }
    }

    async fn run(self) {
        let description = self.describe();
        let health = ApiHealth::new();
        let connected = loop {
            match client::connect(&self.options, &health).await {
                Ok(connected) => break connected,
                Err(error) => {
                    tracing::error!(source = %description, %error, "kubernetes: cannot build the API client; retrying in {RECONNECT_DELAY:?}");
                    if self.feeds.iter().all(|(_, sink)| sink.is_closed()) {
                        return;
                    }
                    tokio::time::sleep(RECONNECT_DELAY).await;
                }
            }
        };
        tracing::info!(source = %description, url = %connected.url, "kubernetes: watching");
        let labels = self.labels.as_ref().map(Selector::as_str).unwrap_or("");
        let namespace_labels = self
            .namespace_labels
            .as_ref()
            .map(Selector::as_str)
            .unwrap_or("");
        let kinds = Kinds {
            client: &connected.client,
            url: &connected.url,
            health: &health,
            timing: self.timing,
        };
        let mut reflectors = JoinSet::new();
        for (kind, sink) in self.feeds {
            match kind {
                Kind::Service => reflectors.spawn(
                    kinds
                        .reflector(kind, labels.to_owned(), PAGE_SIZE, sink, convert_service)
                        .run(),
                ),
                Kind::EndpointSlice => {
                    let selector = if labels.is_empty() {
                        SERVICE_NAME_LABEL.to_owned()
                    } else {
                        format!("{SERVICE_NAME_LABEL},{labels}")
                    };
                    reflectors.spawn(
                        kinds
                            .reflector(kind, selector, SLICE_PAGE_SIZE, sink, convert_slice)
                            .run(),
                    )
                }
                Kind::Namespace => reflectors.spawn(
                    kinds
                        .reflector(
                            kind,
                            namespace_labels.to_owned(),
                            PAGE_SIZE,
                            sink,
                            convert_namespace,
                        )
                        .run(),
                ),
                Kind::Pod => reflectors.spawn(
                    kinds
                        .reflector(kind, labels.to_owned(), POD_PAGE_SIZE, sink, convert_pod)
                        .with_fields(POD_FIELDS)
                        .with_deleted(convert_gone_pod)
                        .run(),
                ),
            };
        }
        // Dropping this task (the plugin is gone) aborts the reflectors with the set.
        while reflectors.join_next().await.is_some() {}
    }
}

/// What every kind's reflector shares.
struct Kinds<'a> {
    client: &'a kube::Client,
    url: &'a str,
    health: &'a Arc<ApiHealth>,
    timing: Timing,
}

impl Kinds<'_> {
    fn reflector<K>(
        &self,
        kind: Kind,
        selector: String,
        page_size: u32,
        sink: ChangeSink,
        convert: Convert<K>,
    ) -> Reflector<K>
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
        K::DynamicType: Default,
    {
        Reflector::new(
            Api::all(self.client.clone()),
            self.url,
            selector,
            page_size,
            kind,
            sink,
            convert,
            self.health.clone(),
            self.timing,
        )
    }
}

fn convert_service(service: &Service) -> Result<Option<Object>, ConvertError> {
    slim_service(service).map(|s| Some(Object::Service(s)))
}

fn convert_slice(slice: &EndpointSlice) -> Result<Option<Object>, ConvertError> {
    Ok(slim_slice(slice)?.map(Object::EndpointSlice))
}

fn convert_namespace(
    namespace: &PartialObjectMeta<Namespace>,
) -> Result<Option<Object>, ConvertError> {
    match namespace.metadata.name.as_deref() {
        Some(name) if !name.is_empty() => Ok(Some(Object::Namespace(SlimNamespace {
            name: Arc::from(name),
        }))),
        _ => Err(ConvertError::Missing("metadata.name")),
    }
}

fn convert_pod(pod: &Pod) -> Result<Option<Object>, ConvertError> {
    Ok(slim_pod(pod)?.map(Object::Pod))
}

/// A deleted pod, as the addresses to forget.
fn convert_gone_pod(pod: &Pod) -> Result<Option<Object>, ConvertError> {
    Ok(slim_pod(pod)?.map(|mut pod| {
        pod.live = false;
        Object::Pod(pod)
    }))
}

impl Source for ApiSource {
    fn describe(&self) -> String {
        match (&self.options.kubeconfig, &self.options.endpoint) {
            (Some((file, _)), _) => format!("the Kubernetes API (kubeconfig {})", file.display()),
            (None, Some(url)) => format!("the Kubernetes API at {url}"),
            (None, None) => "the Kubernetes API (in-cluster configuration)".to_owned(),
        }
    }

    fn spawn(self: Box<Self>, runtime: &Handle) -> SourceTask {
        SourceTask::new(vec![runtime.spawn(self.run())])
    }
}
