use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use clusterdns_api::cluster::ExternalService;
use clusterdns_api::proto::op::{Query, ResponseCode};
use clusterdns_api::proto::rr::rdata::A;
use clusterdns_api::proto::rr::{RData, Record, RecordType};
use clusterdns_api::proto::serialize::binary::BinEncodable;
use clusterdns_api::testing::{NextStub, TempDir, directive, record_line, setup_ctx};
use clusterdns_api::{ClusterDirectory, Protocol};

use super::*;

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

/// One pod, 10.244.1.5 in `shop`; the cluster zone `cluster.local`; the host's search
/// domain `corp.example`.
struct FakeCluster;

impl ClusterDirectory for FakeCluster {
    fn namespace_exposed(&self, _namespace: &str) -> bool {
        true
    }
    fn external_service(&self, _namespace: &str, _name: &str) -> Option<ExternalService> {
        None
    }
    fn own_external_addresses(&self, _headless: bool) -> Vec<IpAddr> {
        Vec::new()
    }
    fn serial(&self) -> u32 {
        1
    }
    fn pod_namespace(&self, ip: IpAddr) -> Option<Arc<str>> {
        (ip == "10.244.1.5".parse::<IpAddr>().unwrap()).then(|| Arc::from("shop"))
    }
    fn search_path(&self, qname: &Name, namespace: &str) -> Option<Vec<Name>> {
        let zone = name("cluster.local.");
        zone.zone_of(qname).then(|| {
            vec![
                name(&format!("{namespace}.svc.cluster.local.")),
                name("svc.cluster.local."),
                zone,
                name("corp.example."),
                Name::root(),
            ]
        })
    }
    /// `web.shop.svc.cluster.local` and the namespace itself exist; nothing else does.
    fn holds_name(&self, query: &WireQuery<'_>) -> bool {
        ["web.shop.svc.cluster.local.", "shop.svc.cluster.local."]
            .iter()
            .any(|held| query.suffix(0) == name(held).to_bytes().unwrap())
    }
}

/// The rest of the chain: `web.shop.svc.cluster.local` and `www.example.org` have A
/// records, everything else is NXDOMAIN; the names asked are recorded.
fn chain_after(asked: Arc<Mutex<Vec<String>>>) -> NextStub {
    NextStub::new(move |ctx| {
        let qname = ctx.qname().to_lowercase().to_string();
        asked.lock().unwrap().push(qname.clone());
        let mut response = Response::new(ctx, "next", ResponseCode::NoError);
        match qname.as_str() {
            "web.shop.svc.cluster.local." | "www.example.org." => {
                response.message.answers.push(Record::from_rdata(
                    ctx.qname().clone(),
                    30,
                    RData::A(A("192.0.2.7".parse().unwrap())),
                ));
            }
            "broken.example.org." => {
                response.message.metadata.response_code = ResponseCode::ServFail
            }
            _ => response.message.metadata.response_code = ResponseCode::NXDomain,
        }
        response
    })
}

fn build(text: &str, zones: &[&str], dir: Option<&TempDir>) -> Arc<dyn Plugin> {
    let mut ctx = setup_ctx();
    ctx.zones = zones.iter().map(|z| name(z)).collect();
    if let Some(dir) = dir {
        ctx.base_dir = dir.path().to_path_buf();
    }
    let plugin = setup(&directive(text), &mut ctx).unwrap().unwrap();
    ctx.cluster.provide(Arc::new(FakeCluster));
    plugin
}

async fn ask(plugin: &Arc<dyn Plugin>, qname: &str, from: &str) -> (Response, Vec<String>) {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let chain: Vec<Arc<dyn Plugin>> = vec![plugin.clone(), Arc::new(chain_after(asked.clone()))];
    let mut ctx = Ctx::new(
        Query::query(name(qname), RecordType::A),
        SocketAddr::new(from.parse().unwrap(), 40000),
        Protocol::Udp,
    );
    let response = Next::new(&chain).run(&mut ctx).await.unwrap();
    let asked = asked.lock().unwrap().clone();
    (response, asked)
}

fn lines(response: &Response) -> Vec<String> {
    response.message.answers.iter().map(record_line).collect()
}

#[tokio::test]
async fn a_pod_gets_the_cname_and_the_answer_in_one_query() {
    let plugin = build("autopath @kubernetes", &["cluster.local."], None);
    let (response, asked) = ask(
        &plugin,
        "www.example.org.shop.svc.cluster.local.",
        "10.244.1.5",
    )
    .await;
    assert_eq!(response.rcode(), ResponseCode::NoError);
    assert_eq!(
        lines(&response),
        [
            "www.example.org.shop.svc.cluster.local. 30 CNAME www.example.org.",
            "www.example.org. 30 A 192.0.2.7"
        ]
    );
    assert_eq!(
        asked,
        [
            "www.example.org.shop.svc.cluster.local.",
            "www.example.org.svc.cluster.local.",
            "www.example.org.cluster.local.",
            "www.example.org.corp.example.",
            "www.example.org."
        ]
    );
}

#[tokio::test]
async fn a_hit_on_the_first_element_has_no_cname() {
    let plugin = build("autopath @kubernetes", &["cluster.local."], None);
    let (response, asked) = ask(&plugin, "web.shop.svc.cluster.local.", "10.244.1.5").await;
    assert_eq!(
        lines(&response),
        ["web.shop.svc.cluster.local. 30 A 192.0.2.7"]
    );
    assert_eq!(asked.len(), 1);
}

#[tokio::test]
async fn every_nxdomain_gives_the_first_answer() {
    let plugin = build("autopath @kubernetes", &["cluster.local."], None);
    let (response, asked) = ask(&plugin, "nothing.shop.svc.cluster.local.", "10.244.1.5").await;
    assert_eq!(response.rcode(), ResponseCode::NXDomain);
    assert_eq!(asked.len(), 5);
    // A SERVFAIL is skipped like an NXDOMAIN.
    let (response, _) = ask(
        &plugin,
        "broken.example.org.shop.svc.cluster.local.",
        "10.244.1.5",
    )
    .await;
    assert_eq!(response.rcode(), ResponseCode::NXDomain);
}

#[tokio::test]
async fn unknown_clients_other_namespaces_and_other_zones_pass_untouched() {
    let plugin = build("autopath @kubernetes", &["cluster.local."], None);
    for (qname, from) in [
        ("www.example.org.shop.svc.cluster.local.", "10.244.9.9"),
        ("www.example.org.other.svc.cluster.local.", "10.244.1.5"),
        ("shop.svc.cluster.local.", "10.244.1.5"),
    ] {
        let (response, asked) = ask(&plugin, qname, from).await;
        assert_eq!(asked, [qname], "{qname} from {from}");
        assert_eq!(response.writer, "next");
    }
    let plugin = build("autopath example.net. @kubernetes", &["."], None);
    let (_, asked) = ask(
        &plugin,
        "www.example.org.shop.svc.cluster.local.",
        "10.244.1.5",
    )
    .await;
    assert_eq!(asked.len(), 1, "not in autopath's zone");
}

#[tokio::test]
async fn a_resolv_conf_file_gives_a_static_path() {
    let dir = TempDir::new("autopath");
    dir.write(
        "my-resolv.conf",
        "nameserver 10.0.0.10\nsearch first.example second.example\n",
    );
    let plugin = build("autopath my-resolv.conf", &["."], Some(&dir));
    let (response, asked) = ask(&plugin, "www.example.org.first.example.", "192.0.2.1").await;
    assert_eq!(
        lines(&response),
        [
            "www.example.org.first.example. 30 CNAME www.example.org.",
            "www.example.org. 30 A 192.0.2.7"
        ]
    );
    assert_eq!(
        asked,
        [
            "www.example.org.first.example.",
            "www.example.org.second.example.",
            "www.example.org."
        ]
    );
    let text = clusterdns_api::metrics::encode_text();
    assert!(
        text.contains("coredns_autopath_success_total{server=\"dns://:53\"}"),
        "{text}"
    );
}

#[test]
fn bad_lines_are_refused_with_their_position() {
    let ctx = setup_ctx();
    for (text, expected) in [
        ("autopath", "wrong argument count"),
        (
            "autopath @etcd",
            "does not implement the AutoPather interface",
        ),
        ("autopath /nonexistent/resolv.conf", "failed to parse"),
        ("autopath @kubernetes {\n x\n}", "takes no block"),
    ] {
        let error = Config::parse(&directive(text), &ctx).unwrap_err();
        assert!(error.to_string().contains(expected), "{text}: {error}");
    }
}

fn wire(plugin: &Arc<dyn Plugin>, qname: &str, client: &str) -> Wire {
    let mut message = clusterdns_api::proto::op::Message::query();
    message.add_query(Query::query(name(qname), RecordType::A));
    let packet = message.to_vec().unwrap();
    let mut query = WireQuery::parse(&packet, true).unwrap();
    query.set_client(std::net::SocketAddr::new(client.parse().unwrap(), 40000));
    plugin.serve_wire(&mut query, &mut Vec::new())
}

#[test]
fn the_wire_path_hands_over_only_what_may_be_walked() {
    let plugin = build("autopath @kubernetes", &["cluster.local."], None);
    let ordinary = |w: Wire| matches!(w, Wire::Ordinary);
    let pass = |w: Wire| matches!(w, Wire::Pass);
    assert!(ordinary(wire(
        &plugin,
        "www.example.org.shop.svc.cluster.local.",
        "10.244.1.5"
    )));
    assert!(pass(wire(
        &plugin,
        "www.example.org.shop.svc.cluster.local.",
        "10.244.9.9"
    )));
    assert!(pass(wire(
        &plugin,
        "web.other.svc.cluster.local.",
        "10.244.1.5"
    )));
    assert!(pass(wire(&plugin, "shop.svc.cluster.local.", "10.244.1.5")));
    assert!(pass(wire(&plugin, "www.example.org.", "10.244.1.5")));
}

#[test]
fn a_cluster_name_that_exists_stays_on_the_wire_path() {
    let plugin = build("autopath @kubernetes", &["cluster.local."], None);
    let ordinary = |w: Wire| matches!(w, Wire::Ordinary);
    let pass = |w: Wire| matches!(w, Wire::Pass);
    // Found as asked, the walk's first step: `kubernetes` answers it on the wire path.
    assert!(pass(wire(
        &plugin,
        "web.shop.svc.cluster.local.",
        "10.244.1.5"
    )));
    assert!(pass(wire(
        &plugin,
        "WEB.shop.svc.cluster.local.",
        "10.244.1.5"
    )));
    // The walk would ask `Web.shop.svc.cluster.local`, not the name as written.
    assert!(ordinary(wire(
        &plugin,
        "web.Shop.svc.cluster.local.",
        "10.244.1.5"
    )));
    // Not in the cluster: may be found further along the path.
    assert!(ordinary(wire(
        &plugin,
        "missing.shop.svc.cluster.local.",
        "10.244.1.5"
    )));
    // From a client that is no pod, nothing is walked either way.
    assert!(pass(wire(
        &plugin,
        "web.shop.svc.cluster.local.",
        "10.244.9.9"
    )));
}
