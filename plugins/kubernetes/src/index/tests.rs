use std::net::IpAddr;

use super::*;
use crate::object::{Port, SlimEndpoint, SlimNamespace, SlimSlice};
use crate::source::{Change, ChangeSink};
use crate::test_support::{F0, F1, F2, objects};

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn all() -> KindSet {
    KindSet::of(&Kind::ALL)
}

fn loaded(fixture: &str) -> (Arc<Index>, ChangeSink) {
    let index = Index::new(false, "test.");
    let sink = ChangeSink::new(&index, all());
    sink.send(Change::Snapshot(objects(fixture))).unwrap();
    (index, sink)
}

fn reverse_names(index: &Index, address: &str) -> Vec<String> {
    index
        .read()
        .reverse(ip(address))
        .iter()
        .map(|r| match &r.endpoint {
            Some(e) => format!("{e}.{}.{}", r.service, r.namespace),
            None => format!("{}.{}", r.service, r.namespace),
        })
        .collect()
}

fn slice(namespace: &str, name: &str, service: &str, addresses: &[&str]) -> Object {
    Object::EndpointSlice(SlimSlice {
        namespace: Arc::from(namespace),
        name: Arc::from(name),
        service: Arc::from(service),
        endpoints: addresses
            .iter()
            .map(|a| SlimEndpoint {
                addresses: smallvec::smallvec![ip(a)],
                ready: true,
                hostname: None,
                target_pod: None,
            })
            .collect(),
        ports: vec![Port {
            name: "http".into(),
            protocol: "tcp".into(),
            port: 80,
        }],
        trigger_time_ms: None,
    })
}

#[test]
fn builds_entries_the_way_queries_arrive() {
    let (index, _) = loaded(F0);
    let view = index.read();
    assert!(view.namespace_exists("empty-ns"));
    assert!(!view.namespace_exists("nosuchns"));
    let web = view.service("prod", "web").unwrap();
    assert_eq!(web.endpoints.len(), 2, "the not-ready endpoint is left out");
    assert_eq!(web.named("web-1").len(), 1);
    assert_eq!(web.named("web-2").len(), 0);
    let web_all = view.service("prod", "web-all").unwrap();
    assert_eq!(web_all.named("10-244-1-12").len(), 1);
    assert!(view.service("prod", "nosuch").is_none());
    assert!(view.service("default", "web").is_none());
    assert_eq!(view.service_count(), 12);
}

#[test]
fn reverse_items_cover_cluster_ips_and_endpoints() {
    let (index, _) = loaded(F0);
    assert_eq!(
        reverse_names(&index, "10.96.0.10"),
        ["kube-dns.kube-system"]
    );
    let mut names = reverse_names(&index, "10.244.1.10");
    names.sort();
    assert_eq!(names, ["10-244-1-10.web-all.prod", "web-0.web.prod"]);
    assert_eq!(
        reverse_names(&index, "fd00:10:96::5"),
        ["db.prod"],
        "both families of a dual-stack service"
    );
    assert!(reverse_names(&index, "10.244.1.20").is_empty(), "not ready");
    // The same address in two slices of one service counts once.
    let (index, _) = loaded(F2);
    assert_eq!(reverse_names(&index, "10.0.0.100"), ["ep1a.svc1.testns"]);
    let mut names = reverse_names(&index, "10.0.0.99");
    names.sort();
    assert_eq!(names, ["double-ep.svc1.testns", "double-ep.svc2.testns"]);
}

#[test]
fn apply_and_delete_update_entries_and_reverse_names() {
    let (index, sink) = loaded(F1);
    assert!(index.read().service("testns", "svc1").is_some());
    sink.send(Change::Apply(slice(
        "testns",
        "svc1-slice2",
        "svc1",
        &["172.0.0.9"],
    )))
    .unwrap();
    {
        let view = index.read();
        let svc1 = view.service("testns", "svc1").unwrap();
        assert_eq!(svc1.endpoints.len(), 2);
        assert_eq!(svc1.named("172-0-0-9").len(), 1);
    }
    assert_eq!(
        reverse_names(&index, "172.0.0.9"),
        ["172-0-0-9.svc1.testns"]
    );

    // A slice that changes service moves its addresses.
    sink.send(Change::Apply(slice(
        "testns",
        "svc1-slice2",
        "svc6",
        &["172.0.0.9"],
    )))
    .unwrap();
    assert_eq!(
        reverse_names(&index, "172.0.0.9"),
        ["172-0-0-9.svc6.testns"]
    );
    assert_eq!(
        index
            .read()
            .service("testns", "svc1")
            .unwrap()
            .endpoints
            .len(),
        1
    );

    sink.send(Change::Delete(ObjectKey {
        kind: Kind::EndpointSlice,
        namespace: Arc::from("testns"),
        name: Arc::from("svc1-slice2"),
    }))
    .unwrap();
    assert!(reverse_names(&index, "172.0.0.9").is_empty());
    sink.send(Change::Delete(ObjectKey {
        kind: Kind::Service,
        namespace: Arc::from("testns"),
        name: Arc::from("svc1"),
    }))
    .unwrap();
    {
        let view = index.read();
        let entry = view.service("testns", "svc1").unwrap();
        assert!(
            entry.service.is_none(),
            "slices without their service remain"
        );
    }
    assert!(
        reverse_names(&index, "10.0.0.1")
            .iter()
            .all(|n| n != "svc1.testns")
    );
    assert_eq!(reverse_names(&index, "172.0.0.1"), ["ep1a.svc1.testns"]);

    sink.send(Change::Delete(ObjectKey {
        kind: Kind::Namespace,
        namespace: Arc::from(""),
        name: Arc::from("testns"),
    }))
    .unwrap();
    assert!(!index.read().namespace_exists("testns"));
    sink.send(Change::Apply(Object::Namespace(SlimNamespace {
        name: Arc::from("testns"),
    })))
    .unwrap();
    assert!(index.read().namespace_exists("testns"));
}

#[test]
fn snapshots_apply_only_the_difference() {
    let (index, sink) = loaded(F1);
    let before = index.read().service("testns", "svc1").unwrap().clone();
    let serial = index.serial();
    // The same snapshot again changes nothing: entries are kept, not rebuilt.
    sink.send(Change::Snapshot(objects(F1))).unwrap();
    let after = index.read().service("testns", "svc1").unwrap().clone();
    assert!(Arc::ptr_eq(&before, &after));
    assert_eq!(index.serial(), serial);

    // A snapshot without svc6 and hdls1's IPv6 slice deletes them (anti-entropy).
    let pruned: Vec<Object> = objects(F1)
        .into_iter()
        .filter(|o| {
            let key = o.key();
            !(key.name.as_ref() == "svc6" || key.name.as_ref() == "hdls1-v6")
        })
        .collect();
    sink.send(Change::Snapshot(pruned)).unwrap();
    let view = index.read();
    assert!(view.service("testns", "svc6").is_none());
    assert!(view.reverse(ip("1234:abcd::1")).is_empty());
    let hdls1 = view.service("testns", "hdls1").unwrap();
    assert_eq!(hdls1.endpoints.len(), 4);
    assert!(hdls1.endpoints.iter().all(|e| e.ip.is_ipv4()));
    let svc1 = view.service("testns", "svc1").unwrap();
    assert!(
        Arc::ptr_eq(&before, svc1),
        "untouched services keep their entry"
    );
}

#[test]
fn a_snapshot_replaces_only_the_kinds_of_its_feed() {
    let index = Index::new(false, "test.");
    let services = ChangeSink::new(&index, KindSet::of(&[Kind::Service]));
    let namespaces = ChangeSink::new(&index, KindSet::of(&[Kind::Namespace]));
    let all_objects = objects(F1);
    let of = |kind: Kind| -> Vec<Object> {
        all_objects
            .iter()
            .filter(|o| o.kind() == kind)
            .cloned()
            .collect()
    };
    services.send(Change::Snapshot(of(Kind::Service))).unwrap();
    namespaces
        .send(Change::Snapshot(of(Kind::Namespace)))
        .unwrap();
    services.send(Change::Snapshot(Vec::new())).unwrap();
    let view = index.read();
    assert!(view.service("testns", "svc1").is_none());
    assert!(
        view.namespace_exists("testns"),
        "other feeds' kinds are kept"
    );
}

#[test]
fn synced_once_every_feed_is() {
    let index = Index::new(false, "test.");
    let a = ChangeSink::new(&index, KindSet::of(&[Kind::Service]));
    let b = ChangeSink::new(&index, KindSet::of(&[Kind::EndpointSlice]));
    assert!(!index.synced());
    a.send(Change::Synced).unwrap();
    assert!(!index.synced());
    b.send(Change::Synced).unwrap();
    assert!(index.synced());
    drop(index);
    assert_eq!(a.send(Change::Synced), Err(crate::source::Closed));
    assert!(a.is_closed());
}

#[test]
fn serial_moves_only_on_relevant_changes() {
    let (index, sink) = loaded(F1);
    index.serial.store(1, Ordering::Relaxed);
    // An unchanged object: no change.
    let svc1 = objects(F1)
        .into_iter()
        .find(|o| o.key().name.as_ref() == "svc1")
        .unwrap();
    sink.send(Change::Apply(svc1)).unwrap();
    assert_eq!(index.serial(), 1);
    // A slice with only not-ready endpoints for a service without others: the entry
    // exists but answers nothing new... still a new entry, so a change.
    sink.send(Change::Apply(slice(
        "testns",
        "new-slice",
        "new-svc",
        &["10.9.9.9"],
    )))
    .unwrap();
    assert!(index.serial() > 1);
}

#[test]
fn pod_addresses_are_indexed_per_namespace() {
    let (index, sink) = loaded(F1);
    assert!(index.read().pod_has_ip("podns", ip("10.240.0.1")));
    assert!(!index.read().pod_has_ip("testns", ip("10.240.0.1")));
    assert_eq!(
        index.read().pod_namespace(ip("10.240.0.1")).map(|n| &**n),
        Some("podns")
    );
    let pod = |live: bool| {
        Object::Pod(crate::object::SlimPod {
            namespace: Arc::from("podns"),
            name: Arc::from("foo"),
            ips: vec![ip("10.240.0.1")],
            live,
        })
    };
    // A delete by key alone (no addresses to forget) keeps the map as it is.
    sink.send(Change::Delete(ObjectKey {
        kind: Kind::Pod,
        namespace: Arc::from("podns"),
        name: Arc::from("foo"),
    }))
    .unwrap();
    assert!(index.read().pod_has_ip("podns", ip("10.240.0.1")));
    // Another pod that is gone does not take the address with it.
    sink.send(Change::Apply(Object::Pod(crate::object::SlimPod {
        namespace: Arc::from("podns"),
        name: Arc::from("other"),
        ips: vec![ip("10.240.0.1")],
        live: false,
    })))
    .unwrap();
    assert!(index.read().pod_has_ip("podns", ip("10.240.0.1")));
    // The pod itself, gone with its addresses (a watched delete, a finished pod).
    sink.send(Change::Apply(pod(false))).unwrap();
    assert!(!index.read().pod_has_ip("podns", ip("10.240.0.1")));
    assert_eq!(index.read().pod_namespace(ip("10.240.0.1")), None);
    sink.send(Change::Apply(pod(true))).unwrap();
    assert!(index.read().pod_has_ip("podns", ip("10.240.0.1")));
}

#[test]
fn a_list_replaces_the_pod_map() {
    let (index, sink) = loaded(F1);
    assert!(index.read().pod_has_ip("podns", ip("10.240.0.1")));
    let mut objects = objects(F1);
    objects.retain(|o| !matches!(o, Object::Pod(_)));
    objects.push(Object::Pod(crate::object::SlimPod {
        namespace: Arc::from("shop"),
        name: Arc::from("client"),
        ips: vec![ip("10.240.0.9"), ip("fd00::9")],
        live: true,
    }));
    sink.send(Change::ListStart).unwrap();
    for object in objects {
        sink.send(Change::Listed(object)).unwrap();
    }
    // Until the list is done, queries see the old map.
    assert!(index.read().pod_has_ip("podns", ip("10.240.0.1")));
    sink.send(Change::ListDone).unwrap();
    let view = index.read();
    assert!(!view.pod_has_ip("podns", ip("10.240.0.1")));
    assert!(view.pod_has_ip("shop", ip("10.240.0.9")));
    assert_eq!(
        view.pod_namespace(ip("fd00::9")).map(|n| &**n),
        Some("shop")
    );
}

#[test]
fn endpoint_pod_names_name_endpoints_after_their_pods() {
    let index = Index::new(true, "test.");
    let sink = ChangeSink::new(&index, all());
    sink.send(Change::Snapshot(objects(F0))).unwrap();
    let view = index.read();
    let web_all = view.service("prod", "web-all").unwrap();
    assert_eq!(web_all.named("web-2").len(), 1);
    assert_eq!(web_all.named("10-244-1-12").len(), 0);
    let web = view.service("prod", "web").unwrap();
    assert_eq!(web.named("web-0").len(), 1, "hostnames win over pod names");
}

fn programming_count() -> u64 {
    clusterdns_api::metrics::encode_text()
        .lines()
        .find(|l| {
            l.starts_with("coredns_kubernetes_dns_programming_duration_seconds_count")
                && l.contains("headless_with_selector")
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn programming_latency_counts_changes_whose_trigger_time_moved() {
    let index = Index::new(false, "latency.");
    let sink = ChangeSink::new(&index, all());
    let f0 = objects(F0);
    let web = |addresses: &[&str], trigger: i64| {
        let mut slice = slice("prod", "web-abcde", "web", addresses);
        if let Object::EndpointSlice(s) = &mut slice {
            s.trigger_time_ms = Some(trigger);
        }
        slice
    };
    let before = programming_count();
    sink.send(Change::Snapshot(f0)).unwrap();
    sink.send(Change::Apply(web(&["10.244.1.10"], 1_000)))
        .unwrap();
    assert_eq!(
        programming_count(),
        before,
        "nothing is measured before sync"
    );
    sink.send(Change::Synced).unwrap();
    sink.send(Change::Apply(web(&["10.244.1.10", "10.244.1.11"], 2_000)))
        .unwrap();
    assert_eq!(programming_count(), before + 1);
    // An edit that leaves the annotation alone is not a controller change.
    sink.send(Change::Apply(web(&["10.244.1.11"], 2_000)))
        .unwrap();
    assert_eq!(programming_count(), before + 1);
}

fn slice_with_ports(
    namespace: &str,
    name: &str,
    service: &str,
    addresses: &[&str],
    port: u16,
) -> Object {
    let mut object = slice(namespace, name, service, addresses);
    if let Object::EndpointSlice(s) = &mut object {
        s.ports[0].port = port;
    }
    object
}

#[test]
fn a_slice_changed_among_others_keeps_theirs_in_place() {
    let (index, sink) = loaded(F1);
    for (name, address, port) in [
        ("b", "172.1.0.2", 82),
        ("a", "172.1.0.1", 81),
        ("c", "172.1.0.3", 83),
    ] {
        sink.send(Change::Apply(slice_with_ports(
            "testns",
            name,
            "multi",
            &[address],
            port,
        )))
        .unwrap();
    }
    let addresses_and_ports = |index: &Index| -> Vec<(String, Vec<u16>)> {
        let view = index.read();
        let entry = view.service("testns", "multi").unwrap();
        entry
            .endpoints
            .iter()
            .map(|e| {
                (
                    e.ip.to_string(),
                    entry.ports_of(e).iter().map(|p| p.port).collect(),
                )
            })
            .collect()
    };
    assert_eq!(
        addresses_and_ports(&index),
        [
            ("172.1.0.1".to_owned(), vec![81]),
            ("172.1.0.2".to_owned(), vec![82]),
            ("172.1.0.3".to_owned(), vec![83]),
        ],
        "slices in name order, each address with its slice's ports"
    );
    sink.send(Change::Apply(slice_with_ports(
        "testns",
        "b",
        "multi",
        &["172.1.0.4", "172.1.0.5"],
        84,
    )))
    .unwrap();
    assert_eq!(
        addresses_and_ports(&index),
        [
            ("172.1.0.1".to_owned(), vec![81]),
            ("172.1.0.4".to_owned(), vec![84]),
            ("172.1.0.5".to_owned(), vec![84]),
            ("172.1.0.3".to_owned(), vec![83]),
        ]
    );
    assert!(reverse_names(&index, "172.1.0.2").is_empty());
    assert_eq!(
        reverse_names(&index, "172.1.0.5"),
        ["172-1-0-5.multi.testns"]
    );
    sink.send(Change::Delete(ObjectKey {
        kind: Kind::EndpointSlice,
        namespace: Arc::from("testns"),
        name: Arc::from("a"),
    }))
    .unwrap();
    assert_eq!(
        addresses_and_ports(&index),
        [
            ("172.1.0.4".to_owned(), vec![84]),
            ("172.1.0.5".to_owned(), vec![84]),
            ("172.1.0.3".to_owned(), vec![83]),
        ]
    );
    let view = index.read();
    let multi = view.service("testns", "multi").unwrap();
    assert_eq!(multi.named("172-1-0-3").collect::<Vec<_>>(), [2]);
    assert!(multi.service.is_none(), "slices alone make an entry");
}

#[test]
fn a_list_is_applied_at_its_end_as_a_snapshot() {
    let (index, sink) = loaded(F1);
    let svc1 = index.read().service("testns", "svc1").unwrap().clone();
    let serial = index.serial();
    sink.send(Change::ListStart).unwrap();
    for object in objects(F1) {
        if object.key().name.as_ref() != "svc6" {
            sink.send(Change::Listed(object)).unwrap();
        }
    }
    assert!(
        index.read().service("testns", "svc6").is_some(),
        "nothing changes before the list is done"
    );
    sink.send(Change::ListDone).unwrap();
    let view = index.read();
    assert!(
        view.service("testns", "svc6").is_none(),
        "what was not listed goes"
    );
    assert!(view.reverse(ip("1234:abcd::1")).is_empty());
    assert!(Arc::ptr_eq(&svc1, view.service("testns", "svc1").unwrap()));
    assert!(index.serial() >= serial);
}

#[test]
fn a_list_begun_again_starts_over() {
    let (index, sink) = loaded(F1);
    sink.send(Change::ListStart).unwrap();
    sink.send(Change::Listed(slice(
        "testns",
        "svc1-slice1",
        "svc1",
        &["172.9.9.9"],
    )))
    .unwrap();
    sink.send(Change::ListStart).unwrap();
    for object in objects(F1) {
        sink.send(Change::Listed(object)).unwrap();
    }
    sink.send(Change::ListDone).unwrap();
    assert!(reverse_names(&index, "172.9.9.9").is_empty());
    assert_eq!(reverse_names(&index, "172.0.0.1"), ["ep1a.svc1.testns"]);
}

#[test]
fn relisting_the_same_objects_changes_nothing() {
    let (index, sink) = loaded(F0);
    index.serial.store(1, Ordering::Relaxed);
    let before: Vec<Arc<ServiceEntry>> = {
        let view = index.read();
        view.services.values().cloned().collect()
    };
    sink.send(Change::ListStart).unwrap();
    for object in objects(F0) {
        sink.send(Change::Listed(object)).unwrap();
    }
    sink.send(Change::ListDone).unwrap();
    assert_eq!(index.serial(), 1);
    let view = index.read();
    for entry in before {
        let now = view.service(&entry.namespace, &entry.name).unwrap();
        assert!(
            Arc::ptr_eq(&entry, now),
            "{}/{} was rebuilt",
            entry.namespace,
            entry.name
        );
    }
}

#[test]
fn endpoint_labels_are_found_whatever_their_case() {
    let index = Index::new(true, "test.");
    let sink = ChangeSink::new(&index, all());
    let mut object = slice("testns", "s", "svc", &["10.1.1.1", "10.1.1.2"]);
    if let Object::EndpointSlice(s) = &mut object {
        s.endpoints[0].target_pod = Some("Web-A".into());
    }
    sink.send(Change::Apply(object)).unwrap();
    let view = index.read();
    let svc = view.service("testns", "svc").unwrap();
    let found: Vec<u32> = svc.named("web-a").collect();
    assert_eq!(found, [0]);
    assert_eq!(
        &*svc.endpoints[0].name, "Web-A",
        "answers keep the label as written"
    );
    assert_eq!(svc.named("10-1-1-2").collect::<Vec<_>>(), [1]);
    assert_eq!(
        svc.named("10-1-1-1").len(),
        0,
        "the pod name replaces the address"
    );
}

#[test]
fn reverse_items_come_in_a_fixed_order() {
    let (index, sink) = loaded(F1);
    // 10.0.0.1 is the cluster IP of svc1 and svcempty; add it as an endpoint of two
    // more services.
    sink.send(Change::Apply(slice(
        "testns",
        "z-slice",
        "zzz",
        &["10.0.0.1"],
    )))
    .unwrap();
    sink.send(Change::Apply(slice(
        "testns",
        "a-slice",
        "aaa",
        &["10.0.0.1"],
    )))
    .unwrap();
    assert_eq!(
        reverse_names(&index, "10.0.0.1"),
        [
            "10-0-0-1.aaa.testns",
            "svc1.testns",
            "svcempty.testns",
            "10-0-0-1.zzz.testns",
        ]
    );
}
