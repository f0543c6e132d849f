//! Plugin-level tests: the parts the socket tests cannot show (readiness before sync,
//! the server's own addresses, the chase through the rest of the chain, answering on
//! the first poll).

use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use clusterdns_api::proto::op::{Query, ResponseCode};
use clusterdns_api::proto::rr::{Name, RecordType};
use clusterdns_api::{Ctx, Fallthrough, Next, Plugin, Protocol};
use tokio::runtime::Handle;

use crate::Kubernetes;
use crate::answer::Settings;
use crate::config::PodMode;
use crate::index::Index;
use crate::object::{Kind, KindSet};
use crate::source::{Change, ChangeSink, Source, SourceTask};
use crate::test_support::{F0, F1, ask, lines, next_stub, objects, plugin as build};

/// A source that feeds only what the test sends through its sink.
struct Manual;

impl Source for Manual {
    fn describe(&self) -> String {
        "manual".to_owned()
    }

    fn spawn(self: Box<Self>, _runtime: &Handle) -> SourceTask {
        SourceTask::default()
    }
}

fn settings() -> Settings {
    Settings {
        zones: vec![Name::from_ascii("cluster.local.").unwrap()],
        primary: Name::from_ascii("cluster.local.").unwrap(),
        ttl: 5,
        pods: PodMode::Disabled,
        namespaces: Vec::new(),
        filters_namespaces: false,
        ignore_empty_service: false,
        fallthrough: Fallthrough::default(),
        local_ips: Vec::new(),
    }
}

fn manual(startup_timeout: Duration) -> (Arc<Kubernetes>, ChangeSink) {
    let index = Index::new(false, "manual.");
    let sink = ChangeSink::new(&index, KindSet::of(&Kind::ALL));
    let plugin = Kubernetes::new(settings(), index, Box::new(Manual), startup_timeout);
    (Arc::new(plugin), sink)
}

#[tokio::test]
async fn servfail_instead_of_nxdomain_until_synced() {
    // U49: the source has not synced; startup_timeout is over.
    let (plugin, sink) = manual(Duration::ZERO);
    assert!(!plugin.ready());
    let response = ask(&plugin, "svc0.testns.svc.cluster.local.", RecordType::A).await;
    assert_eq!(response.rcode(), ResponseCode::ServFail);
    assert_eq!(
        lines(&response.message.authorities),
        [
            "cluster.local. 5 SOA ns.dns.cluster.local. hostmaster.cluster.local. * 7200 1800 86400 5"
        ]
    );
    // What has arrived is served already.
    sink.send(Change::Snapshot(objects(F1))).unwrap();
    let response = ask(&plugin, "svc1.testns.svc.cluster.local.", RecordType::A).await;
    assert_eq!(
        lines(&response.message.answers),
        ["svc1.testns.svc.cluster.local. 5 A 10.0.0.1"]
    );
    let response = ask(&plugin, "svc0.testns.svc.cluster.local.", RecordType::A).await;
    assert_eq!(response.rcode(), ResponseCode::ServFail);
    sink.send(Change::Synced).unwrap();
    assert!(plugin.ready());
    let response = ask(&plugin, "svc0.testns.svc.cluster.local.", RecordType::A).await;
    assert_eq!(response.rcode(), ResponseCode::NXDomain);
}

#[tokio::test]
async fn nothing_is_answered_before_startup_timeout() {
    let (plugin, sink) = manual(Duration::from_secs(3600));
    sink.send(Change::Snapshot(objects(F1))).unwrap();
    let response = ask(&plugin, "svc1.testns.svc.cluster.local.", RecordType::A).await;
    assert_eq!(response.rcode(), ResponseCode::ServFail);
    assert!(response.message.authorities.is_empty());
    // Names outside the zones are not held up.
    let response = ask(&plugin, "example.org.", RecordType::A).await;
    assert_eq!(response.writer, "next");
    sink.send(Change::Synced).unwrap();
    let response = ask(&plugin, "svc1.testns.svc.cluster.local.", RecordType::A).await;
    assert_eq!(response.rcode(), ResponseCode::NoError);
}

#[tokio::test]
async fn without_manifests_the_api_placeholder_never_syncs() {
    let (plugin, _dir) = build(
        "kubernetes cluster.local {\nstartup_timeout 0s\n}",
        &[],
        &[],
    );
    assert!(!plugin.ready());
    let response = ask(
        &plugin,
        "kubernetes.default.svc.cluster.local.",
        RecordType::A,
    )
    .await;
    assert_eq!(response.rcode(), ResponseCode::ServFail);
    let response = ask(&plugin, "cluster.local.", RecordType::SOA).await;
    assert_eq!(
        response.rcode(),
        ResponseCode::NoError,
        "apex data needs no sync"
    );
}

#[tokio::test]
async fn with_manifests_it_is_ready_at_once() {
    let (plugin, _dir) = build(
        "kubernetes cluster.local {\nmanifests f1.yaml\n}",
        &[("f1.yaml", F1)],
        &[],
    );
    assert!(plugin.ready());
}

#[tokio::test]
async fn ns_names_the_service_the_server_is_an_endpoint_of() {
    // K36: our own address 10.244.0.2 is an endpoint of kube-system/kube-dns.
    let (plugin, _dir) = build(
        "kubernetes cluster.local {\nmanifests f0.yaml\nttl 30\n}",
        &[("f0.yaml", F0)],
        &["10.244.0.2"],
    );
    let response = ask(&plugin, "cluster.local.", RecordType::NS).await;
    assert!(response.message.metadata.authoritative);
    assert_eq!(
        lines(&response.message.answers),
        ["cluster.local. 30 NS kube-dns.kube-system.svc.cluster.local."]
    );
    assert_eq!(
        lines(&response.message.additionals),
        ["kube-dns.kube-system.svc.cluster.local. 30 A 10.96.0.10"]
    );
    let response = ask(&plugin, "ns.dns.cluster.local.", RecordType::A).await;
    assert_eq!(
        lines(&response.message.answers),
        ["ns.dns.cluster.local. 30 A 10.96.0.10"]
    );
}

#[tokio::test]
async fn ns_falls_back_to_ns_dns_and_the_local_addresses() {
    // U46 and U48: the server's addresses are no endpoint of any service.
    let (plugin, _dir) = build(
        "kubernetes cluster.local {\nmanifests f1.yaml\n}",
        &[("f1.yaml", F1)],
        &["1.2.3.4", "1:2::3:4"],
    );
    let response = ask(&plugin, "cluster.local.", RecordType::NS).await;
    assert_eq!(
        lines(&response.message.answers),
        ["cluster.local. 5 NS ns.dns.cluster.local."]
    );
    assert_eq!(
        lines(&response.message.additionals),
        [
            "ns.dns.cluster.local. 5 A 1.2.3.4",
            "ns.dns.cluster.local. 5 AAAA 1:2::3:4"
        ]
    );
    let a = ask(&plugin, "ns.dns.cluster.local.", RecordType::A).await;
    assert_eq!(
        lines(&a.message.answers),
        ["ns.dns.cluster.local. 5 A 1.2.3.4"]
    );
    let aaaa = ask(&plugin, "NS.dns.cluster.local.", RecordType::AAAA).await;
    assert_eq!(
        lines(&aaaa.message.answers),
        ["NS.dns.cluster.local. 5 AAAA 1:2::3:4"]
    );
    // Other types: NODATA, except TXT (NXDOMAIN, as CoreDNS).
    let mx = ask(&plugin, "ns.dns.cluster.local.", RecordType::MX).await;
    assert_eq!(mx.rcode(), ResponseCode::NoError);
    assert!(mx.message.answers.is_empty());
    let txt = ask(&plugin, "ns.dns.cluster.local.", RecordType::TXT).await;
    assert_eq!(txt.rcode(), ResponseCode::NXDomain);
}

#[tokio::test]
async fn external_names_are_chased_through_the_rest_of_the_chain() {
    // U38: CNAME, then what the next plugin answers for the target.
    let (plugin, _dir) = build(
        "kubernetes cluster.local {\nmanifests f1.yaml\n}",
        &[("f1.yaml", F1)],
        &[],
    );
    let response = ask(&plugin, "external.testns.svc.cluster.local.", RecordType::A).await;
    assert_eq!(response.rcode(), ResponseCode::NoError);
    let answers: Vec<String> = response
        .message
        .answers
        .iter()
        .map(crate::test_support::line)
        .collect();
    assert_eq!(
        answers,
        [
            "external.testns.svc.cluster.local. 5 CNAME ext.interwebs.test.",
            "ext.interwebs.test. 5 A 1.2.3.4"
        ],
        "the CNAME comes first"
    );
    assert!(!response.message.metadata.truncation);

    // A truncated upstream answer truncates ours.
    let tc = "apiVersion: v1\nkind: Service\nmetadata: {name: tc, namespace: testns}\n\
              spec: {type: ExternalName, externalName: tc.interwebs.test}\n";
    let (plugin, _dir) = build(
        "kubernetes cluster.local {\nmanifests f1.yaml tc.yaml\n}",
        &[("f1.yaml", F1), ("tc.yaml", tc)],
        &[],
    );
    let response = ask(&plugin, "tc.testns.svc.cluster.local.", RecordType::A).await;
    assert!(response.message.metadata.truncation);
    assert_eq!(response.message.answers.len(), 2);

    // U39: a target inside the zone is resolved here.
    let response = ask(
        &plugin,
        "external-to-service.testns.svc.cluster.local.",
        RecordType::A,
    )
    .await;
    let answers: Vec<String> = response
        .message
        .answers
        .iter()
        .map(crate::test_support::line)
        .collect();
    assert_eq!(
        answers,
        [
            "external-to-service.testns.svc.cluster.local. 5 CNAME svc1.testns.svc.cluster.local.",
            "svc1.testns.svc.cluster.local. 5 A 10.0.0.1"
        ]
    );
}

#[tokio::test]
async fn a_chase_with_nothing_after_answers_the_cname_alone() {
    let (plugin, _dir) = build(
        "kubernetes cluster.local {\nmanifests f1.yaml\n}",
        &[("f1.yaml", F1)],
        &[],
    );
    let chain: Vec<Arc<dyn Plugin>> = vec![plugin.clone()];
    let query = Query::query(
        Name::from_ascii("external.testns.svc.cluster.local.").unwrap(),
        RecordType::AAAA,
    );
    let mut ctx = Ctx::new(query, SocketAddr::from(([10, 0, 0, 99], 53)), Protocol::Udp);
    let response = Next::new(&chain).run(&mut ctx).await.unwrap();
    assert_eq!(
        lines(&response.message.answers),
        ["external.testns.svc.cluster.local. 5 CNAME ext.interwebs.test."]
    );
}

#[tokio::test]
async fn cluster_answers_complete_on_the_first_poll() {
    let (plugin, _dir) = build(
        "kubernetes cluster.local in-addr.arpa {\nmanifests f0.yaml\npods insecure\n}",
        &[("f0.yaml", F0)],
        &[],
    );
    let chain: Vec<Arc<dyn Plugin>> = vec![plugin.clone(), Arc::new(next_stub())];
    for (name, qtype) in [
        ("kubernetes.default.svc.cluster.local.", RecordType::A),
        ("nosuch.prod.svc.cluster.local.", RecordType::A),
        ("_http._tcp.web.prod.svc.cluster.local.", RecordType::SRV),
        ("10.1.244.10.in-addr.arpa.", RecordType::PTR),
        ("10-244-1-10.prod.pod.cluster.local.", RecordType::A),
        ("cluster.local.", RecordType::SOA),
    ] {
        let query = Query::query(Name::from_ascii(name).unwrap(), qtype);
        let mut ctx = Ctx::new(query, SocketAddr::from(([10, 0, 0, 99], 53)), Protocol::Udp);
        let mut future = Next::new(&chain).run(&mut ctx);
        let mut cx = Context::from_waker(Waker::noop());
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(Ok(response)) => assert_eq!(response.writer, "kubernetes", "{name}"),
            Poll::Ready(Err(e)) => panic!("{name}: {e}"),
            Poll::Pending => panic!("{name} did not complete on the first poll"),
        }
    }
}

#[tokio::test]
async fn fallthrough_hands_would_be_nxdomain_answers_on() {
    let (plugin, _dir) = build(
        "kubernetes cluster.local in-addr.arpa {\nmanifests f1.yaml\nfallthrough in-addr.arpa\n}",
        &[("f1.yaml", F1)],
        &[],
    );
    let response = ask(&plugin, "8.8.8.8.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(response.writer, "next");
    let response = ask(&plugin, "nosuch.testns.svc.cluster.local.", RecordType::A).await;
    assert_eq!(response.rcode(), ResponseCode::NXDomain);
    assert_eq!(response.writer, "kubernetes");
}

#[tokio::test]
async fn ttl_caps_the_soa_ttl_at_300() {
    // O12: ttl 600 → SOA TTL 300, MINIMUM 600.
    let (plugin, _dir) = build(
        "kubernetes cluster.local {\nmanifests f1.yaml\nttl 600\n}",
        &[("f1.yaml", F1)],
        &[],
    );
    let response = ask(&plugin, "svc1.testns.svc.cluster.local.", RecordType::AAAA).await;
    assert_eq!(
        lines(&response.message.authorities),
        [
            "cluster.local. 300 SOA ns.dns.cluster.local. hostmaster.cluster.local. * 7200 1800 86400 600"
        ]
    );
    let response = ask(&plugin, "dns-version.cluster.local.", RecordType::TXT).await;
    assert_eq!(
        lines(&response.message.answers),
        ["dns-version.cluster.local. 28800 TXT 1.1.0"]
    );
}
