//! The API object decoder's target: what a watch event carries, as JSON, turned into
//! slim objects and applied to an index.

use clusterdns_kubernetes::index::Index;
use clusterdns_kubernetes::object::{
    ConvertError, Kind, KindSet, Object, slim_namespace, slim_pod, slim_service, slim_slice,
};
use clusterdns_kubernetes::source::{Change, ChangeSink};
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::core::WatchEvent;
use serde::de::DeserializeOwned;

/// JSON as the API server sends it in a watch stream (`{"type": "ADDED", "object":
/// {...}}`) or in a list (the object alone), read as each kind the source watches, then
/// cut down to its slim form as the API source does, applied to an index, looked up and
/// deleted again. No panic; a refused object says why; a kept one has a name and is
/// found where it was put.
///
/// # Panics
///
/// When the decoder or the index panics, or an expectation fails.
pub fn api_object(data: &[u8]) {
    let index = Index::new(false, "cluster.local.");
    let feed = ChangeSink::new(&index, KindSet::of(&Kind::ALL));
    let mut kept = Vec::new();
    kept.extend(convert::<Service>(data, |s| {
        slim_service(s).map(|s| Some(Object::Service(s)))
    }));
    kept.extend(convert::<EndpointSlice>(data, |s| {
        Ok(slim_slice(s)?.map(Object::EndpointSlice))
    }));
    kept.extend(convert::<Namespace>(data, |n| {
        slim_namespace(n).map(|n| Some(Object::Namespace(n)))
    }));
    kept.extend(convert::<Pod>(data, |p| Ok(slim_pod(p)?.map(Object::Pod))));
    for object in &kept {
        let key = object.key();
        assert!(
            !key.name.is_empty(),
            "an object kept without a name: {object:?}"
        );
        feed.send(Change::Apply(object.clone()))
            .expect("the index is there");
        match object {
            Object::Service(service) => {
                let view = index.read();
                let held = view
                    .service(&service.namespace, &service.name)
                    .and_then(|entry| entry.service.as_ref());
                assert_eq!(held, Some(service), "the service applied is not held");
            }
            Object::EndpointSlice(slice) => {
                let view = index.read();
                assert!(
                    view.service(&slice.namespace, &slice.service).is_some(),
                    "a slice's service has no entry"
                );
                for endpoint in &slice.endpoints {
                    for ip in &endpoint.addresses {
                        let _ = view.reverse(*ip);
                    }
                }
            }
            Object::Namespace(namespace) => {
                assert!(index.read().namespace_exists(&namespace.name));
            }
            Object::Pod(pod) => {
                for ip in &pod.ips {
                    assert!(
                        index.read().pod_has_ip(&pod.namespace, *ip),
                        "pod IP {ip} not indexed"
                    );
                }
            }
        }
        feed.send(Change::Delete(key)).expect("the index is there");
    }
    let view = index.read();
    assert_eq!(view.service_count(), 0, "objects outlived their deletion");
}

/// `data` as a watch event or a bare object of kind `K`, converted; `None` when it is
/// neither or the conversion leaves it out.
fn convert<K: DeserializeOwned>(
    data: &[u8],
    slim: impl Fn(&K) -> Result<Option<Object>, ConvertError>,
) -> Option<Object> {
    let object: K = match serde_json::from_slice::<WatchEvent<K>>(data) {
        Ok(WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o)) => o,
        Ok(WatchEvent::Bookmark(_) | WatchEvent::Error(_)) => return None,
        Err(_) => serde_json::from_slice(data).ok()?,
    };
    match slim(&object) {
        Ok(kept) => kept,
        Err(error) => {
            assert!(!error.to_string().is_empty(), "an error that says nothing");
            None
        }
    }
}
