//! Criterion benchmarks of the pieces of the request path, on a generated cluster of
//! 10,000 services (1,000 of them headless, 5 endpoints each) served by the kubernetes
//! plugin from a manifest, as `compare-knot-cluster.sh` serves it:
//!
//! - `decode`: a query packet parsed for the wire path, and decoded for the ordinary
//!   path;
//! - `lookup`: the index's service lookup, for a name that exists and one that does
//!   not;
//! - `wire`: whole answers through the server's request path (routing, wire path,
//!   writing the packet) for service A, AAAA NODATA, SRV, headless A, NXDOMAIN;
//! - `ordinary`: the same A query synthesised by the plugin's `serve` (hickory
//!   records), and that answer encoded: what the wire path saves;
//! - `cache`: a cache hit through the request path, with `cache` in front;
//! - `front`: the service A query through the request path with the IPv4-only AAAA
//!   filter (`template`) or a `rewrite` rule in front of the cluster zone (to compare
//!   with `wire/service_a`), and a filtered AAAA answer.
//!
//! `cargo bench --bench hot_path`; `cargo test` runs each once on a 1,000-service
//! cluster, as a smoke test.

use std::hint::black_box;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use clusterdns::inline::InlineServer;
use clusterdns::server::RequestPath;
use clusterdns::server::codec::{self, AnswerParts};
use clusterdns_api::wire::WireQuery;
use clusterdns_api::{Ctx, Next, Plugin, Protocol, Readiness, SetupCtx};
use criterion::{Criterion, criterion_group, criterion_main};
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

/// Services in the cluster; a tenth of them when run as a smoke test (`cargo test`
/// runs this target without `--bench`).
fn services() -> usize {
    if std::env::args().any(|arg| arg == "--bench") {
        10_000
    } else {
        1_000
    }
}

/// A `kind: List` of namespaces, services and their EndpointSlices.
fn cluster(services: usize) -> String {
    let mut items = Vec::new();
    for ns in 0..services / 100 {
        items.push(format!(
            r#"{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"ns-{ns}"}}}}"#
        ));
    }
    for i in 0..services {
        let ns = i / 100;
        let headless = i % 10 == 0;
        let cluster_ip = if headless {
            "None".to_owned()
        } else {
            format!("10.96.{}.{}", i / 250, i % 250 + 1)
        };
        items.push(format!(
            r#"{{"apiVersion":"v1","kind":"Service","metadata":{{"name":"svc-{i}","namespace":"ns-{ns}"}},"spec":{{"clusterIP":"{cluster_ip}","ports":[{{"name":"http","port":80,"protocol":"TCP"}}]}}}}"#
        ));
        let endpoints: Vec<String> = (0..5)
            .map(|e| {
                format!(
                    r#"{{"addresses":["10.{}.{}.{}"],"conditions":{{"ready":true}}}}"#,
                    100 + e,
                    i / 250,
                    i % 250 + 1
                )
            })
            .collect();
        items.push(format!(
            r#"{{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{{"name":"svc-{i}-a","namespace":"ns-{ns}","labels":{{"kubernetes.io/service-name":"svc-{i}"}}}},"addressType":"IPv4","endpoints":[{}],"ports":[{{"name":"http","port":80,"protocol":"TCP"}}]}}"#,
            endpoints.join(",")
        ));
    }
    format!(
        r#"{{"apiVersion":"v1","kind":"List","items":[{}]}}"#,
        items.join(",")
    )
}

/// The first listener of `corefile`, reading files from `dir`, its plugins ready.
fn listener(corefile: &str, dir: &Path) -> InlineServer {
    InlineServer::start(corefile, dir, Duration::from_secs(60)).expect("the cluster loads")
}

fn packet(name: &str, qtype: RecordType) -> Vec<u8> {
    let mut message = Message::new(4242, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).expect("name"), qtype));
    message.to_vec().expect("encodes")
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let _entered = runtime.enter();
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("cluster.json"), cluster(services())).expect("write cluster");
    let plain = listener(
        "cluster.local {\n kubernetes cluster.local {\n  manifests cluster.json\n }\n}\n",
        dir.path(),
    );
    let cached = listener(
        "cluster.local {\n cache 30\n kubernetes cluster.local {\n  manifests cluster.json\n }\n}\n",
        dir.path(),
    );
    let filtered = listener(
        "cluster.local {\n template IN AAAA . {\n  rcode NOERROR\n }\n kubernetes cluster.local {\n  manifests cluster.json\n }\n}\n",
        dir.path(),
    );
    let rewritten = listener(
        "cluster.local {\n rewrite name suffix .cluster.internal. .cluster.local. answer auto\n kubernetes cluster.local {\n  manifests cluster.json\n }\n}\n",
        dir.path(),
    );
    let src = SocketAddr::from(([10, 244, 0, 9], 40000));
    let a = packet("svc-321.ns-3.svc.cluster.local.", RecordType::A);

    let mut group = c.benchmark_group("decode");
    group.bench_function("wire", |b| {
        b.iter(|| WireQuery::parse(black_box(&a), true).map(|q| q.label_count()))
    });
    group.bench_function("ordinary", |b| {
        b.iter(|| matches!(codec::decode(black_box(&a)), codec::Decoded::Query(_)))
    });
    group.finish();

    // The plugin of the first listener, for index lookups and `serve`.
    let blocks = clusterdns::corefile::parse_str(
        "cluster.local {\n kubernetes cluster.local {\n  manifests cluster.json\n }\n}\n",
        "Corefile",
        dir.path(),
    )
    .expect("Corefile parses");
    let ctx = SetupCtx::new(
        vec![Name::from_ascii("cluster.local.").expect("zone")],
        53,
        dir.path().to_path_buf(),
        Readiness::new(),
    );
    let config = clusterdns_kubernetes::config::Config::parse(&blocks[0].directives[0], &ctx)
        .expect("directive parses");
    let kubernetes = Arc::new(clusterdns_kubernetes::build(config, Vec::new()));
    kubernetes.started(&[]);
    while !kubernetes.ready() {
        std::thread::sleep(Duration::from_millis(20));
    }

    let mut group = c.benchmark_group("lookup");
    let index = kubernetes.index().clone();
    group.bench_function("hit", |b| {
        b.iter(|| {
            index
                .read()
                .service(black_box("ns-3"), black_box("svc-321"))
                .is_some()
        })
    });
    group.bench_function("miss", |b| {
        b.iter(|| {
            index
                .read()
                .service(black_box("ns-3"), black_box("svc-nope"))
                .is_some()
        })
    });
    group.finish();

    let mut group = c.benchmark_group("wire");
    let mut buf = Vec::with_capacity(1232);
    for (what, name, qtype) in [
        (
            "service_a",
            "svc-321.ns-3.svc.cluster.local.",
            RecordType::A,
        ),
        (
            "service_aaaa_nodata",
            "svc-321.ns-3.svc.cluster.local.",
            RecordType::AAAA,
        ),
        (
            "service_srv",
            "_http._tcp.svc-321.ns-3.svc.cluster.local.",
            RecordType::SRV,
        ),
        (
            "headless_a",
            "svc-320.ns-3.svc.cluster.local.",
            RecordType::A,
        ),
        (
            "nxdomain",
            "svc-321.ns-3.svc.cluster.local.ns-43.svc.cluster.local.",
            RecordType::A,
        ),
    ] {
        let query = packet(name, qtype);
        assert!(
            plain.answer(&query, src, Protocol::Udp, RequestPath::Any, &mut buf),
            "{what} is answered"
        );
        group.bench_function(what, |b| {
            b.iter(|| {
                plain.answer(
                    black_box(&query),
                    src,
                    Protocol::Udp,
                    RequestPath::Any,
                    &mut buf,
                )
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("ordinary");
    let question = Query::query(
        Name::from_ascii("svc-321.ns-3.svc.cluster.local.").expect("name"),
        RecordType::A,
    );
    let serve = || {
        let mut ctx = Ctx::new(question.clone(), src, Protocol::Udp);
        let mut future = kubernetes.serve(&mut ctx, Next::new(&[]));
        match future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(Ok(response)) => response,
            _ => panic!("answered at once"),
        }
    };
    group.bench_function("service_a_synthesis", |b| b.iter(|| black_box(serve())));
    let response = serve();
    group.bench_function("service_a_encode", |b| {
        b.iter(|| {
            let parts = AnswerParts {
                metadata: response.message.metadata,
                query: Some(&question),
                answers: &response.message.answers,
                authorities: &response.message.authorities,
                additionals: &response.message.additionals,
                edns: None,
            };
            codec::encode(&parts, 512, &mut buf).is_ok()
        })
    });
    group.finish();

    let mut group = c.benchmark_group("cache");
    assert!(cached.answer(&a, src, Protocol::Udp, RequestPath::Any, &mut buf));
    group.bench_function("hit_a", |b| {
        b.iter(|| {
            cached.answer(
                black_box(&a),
                src,
                Protocol::Udp,
                RequestPath::Any,
                &mut buf,
            )
        })
    });
    group.finish();

    front(c, &plain, &filtered, &rewritten, src);
}

/// The cost of a filter or rewrite in front of the cluster zone.
fn front(
    c: &mut Criterion,
    plain: &InlineServer,
    filtered: &InlineServer,
    rewritten: &InlineServer,
    src: SocketAddr,
) {
    let mut group = c.benchmark_group("front");
    let mut buf = Vec::with_capacity(1232);
    let a = packet("svc-321.ns-3.svc.cluster.local.", RecordType::A);
    let aaaa = packet("svc-321.ns-3.svc.cluster.local.", RecordType::AAAA);
    for (what, server, query) in [
        ("none_service_a", plain, &a),
        ("aaaa_filter_service_a", filtered, &a),
        ("aaaa_filter_aaaa", filtered, &aaaa),
        ("rewrite_service_a", rewritten, &a),
    ] {
        assert!(
            server.answer(query, src, Protocol::Udp, RequestPath::Any, &mut buf),
            "{what} is answered"
        );
        group.bench_function(what, |b| {
            b.iter(|| {
                server.answer(
                    black_box(query),
                    src,
                    Protocol::Udp,
                    RequestPath::Any,
                    &mut buf,
                )
            })
        });
    }
    // The rewrite plugin's own decision, alone.
    let directive = clusterdns_api::Directive {
        name: clusterdns_api::Token::synthetic("rewrite"),
        args: [
            "name",
            "suffix",
            ".cluster.internal.",
            ".cluster.local.",
            "answer",
            "auto",
        ]
        .iter()
        .map(|w| clusterdns_api::Token::synthetic(w))
        .collect(),
        block: None,
    };
    let mut ctx = SetupCtx::new(
        vec![Name::root()],
        53,
        std::path::PathBuf::from("."),
        Readiness::new(),
    );
    let rewrite = clusterdns_rewrite::setup(&directive, &mut ctx)
        .expect("rewrite parses")
        .expect("a plugin");
    group.bench_function("rewrite_serve_wire_pass", |b| {
        b.iter(|| {
            let mut query = WireQuery::parse(black_box(&a), true).expect("plain query");
            rewrite.serve_wire(&mut query, &mut buf)
        })
    });
    group.finish();
}

criterion_group!(hot_path, benches);
criterion_main!(hot_path);
