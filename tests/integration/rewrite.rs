//! `rewrite` through real sockets: names rewritten onto the demo cluster and answered
//! back under the client's own name and question, the README's forms, and a stub
//! zone rewritten in a block as kubespray writes it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption, NSIDPayload};
use hickory_proto::rr::{RData, Record, RecordType};
use tokio::net::UdpSocket;

use crate::support::{TestServer, Upstream, query, query_edns, reply_to, tcp, udp, udp_raw};

const CLUSTER: &str = include_str!("../../deploy/demo/cluster.yaml");

fn texts(records: &[hickory_proto::rr::Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| format!("{} {} {} {}", r.name, r.ttl, r.record_type(), r.data))
        .collect()
}

const COREFILE: &str = ". {
    errors
    rewrite name suffix .cluster.internal. .cluster.local. answer auto
    rewrite continue name exact old-web.shop.svc.cluster.local. web.shop.svc.cluster.local.
    rewrite ttl exact kubernetes.default.svc.cluster.local. 30
    rewrite stop {
        name regex (.*)\\.legacy\\.example\\.$ {1}.svc.cluster.local
        answer name (.*)\\.svc\\.cluster\\.local\\.$ {1}.legacy.example
    }
    rewrite rcode suffix gone.example. NXDOMAIN REFUSED
    kubernetes cluster.local {
        manifests cluster.yaml
    }
    hosts /etc/hosts gone.example {
        10.1.1.1 present.gone.example
    }
}
";

async fn server() -> TestServer {
    let server = TestServer::start(COREFILE, &[("cluster.yaml", CLUSTER)]).await;
    let probe = query("web.shop.svc.cluster.local.", RecordType::A);
    let start = std::time::Instant::now();
    while udp(server.udp(), &probe).await.answers.is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the cluster loads"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server
}

#[tokio::test]
async fn answers_carry_the_clients_question_and_names() {
    let server = server().await;
    // The suffix rule: asked under another cluster domain, answered under it.
    let asked = "Web.Shop.svc.cluster.internal.";
    let reply = udp(server.udp(), &query(asked, RecordType::A)).await;
    assert_eq!(
        reply.queries[0].name().to_string(),
        asked,
        "the question as written"
    );
    assert_eq!(reply.queries[0].query_type(), RecordType::A);
    assert_eq!(
        texts(&reply.answers),
        ["web.shop.svc.cluster.internal. 5 A 10.96.12.5"]
    );
    // SRV: owner and target mapped back (`answer auto` rewrites values too).
    let srv = udp(
        server.udp(),
        &query("_http._tcp.web.shop.svc.cluster.internal.", RecordType::SRV),
    )
    .await;
    assert_eq!(srv.answers.len(), 1);
    assert!(
        srv.answers[0]
            .name
            .to_string()
            .ends_with(".cluster.internal."),
        "{:?}",
        texts(&srv.answers)
    );
    assert!(
        srv.answers[0]
            .data
            .to_string()
            .ends_with(".cluster.internal."),
        "{:?}",
        texts(&srv.answers)
    );

    // An exact rule maps the answer back to the name asked.
    let old = udp(
        server.udp(),
        &query("old-web.shop.svc.cluster.local.", RecordType::A),
    )
    .await;
    assert_eq!(
        texts(&old.answers),
        ["old-web.shop.svc.cluster.local. 5 A 10.96.12.5"]
    );
    assert_eq!(
        old.queries[0].name().to_string(),
        "old-web.shop.svc.cluster.local."
    );

    // A ttl rule.
    let ttl = udp(
        server.udp(),
        &query("kubernetes.default.svc.cluster.local.", RecordType::A),
    )
    .await;
    assert_eq!(
        texts(&ttl.answers),
        ["kubernetes.default.svc.cluster.local. 30 A 10.96.0.1"]
    );

    // The block form, with an answer name rule.
    let legacy = udp(
        server.udp(),
        &query("web.shop.legacy.example.", RecordType::A),
    )
    .await;
    assert_eq!(
        legacy.queries[0].name().to_string(),
        "web.shop.legacy.example."
    );
    assert_eq!(
        texts(&legacy.answers),
        ["web.shop.legacy.example. 5 A 10.96.12.5"]
    );

    // An rcode rule: NXDOMAIN from hosts becomes REFUSED; answers are left alone.
    let gone = udp(server.udp(), &query("missing.gone.example.", RecordType::A)).await;
    assert_eq!(gone.metadata.response_code, ResponseCode::Refused);
    let present = udp(server.udp(), &query("present.gone.example.", RecordType::A)).await;
    assert_eq!(
        texts(&present.answers),
        ["present.gone.example. 3600 A 10.1.1.1"]
    );

    // Names no rule touches are answered as without rewrite, on the wire path.
    let plain = udp(
        server.udp(),
        &query("db.data.svc.cluster.local.", RecordType::A),
    )
    .await;
    assert_eq!(plain.metadata.response_code, ResponseCode::NoError);
}

#[tokio::test]
async fn untouched_names_get_the_same_bytes_as_without_rewrite() {
    let files = [("cluster.yaml", CLUSTER)];
    let with = server().await;
    let without = TestServer::start(
        ". {\n    errors\n    kubernetes cluster.local {\n        manifests cluster.yaml\n    }\n}\n",
        &files,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    for name in [
        "web.shop.svc.cluster.local.",
        "DB.data.svc.cluster.local.",
        "nope.shop.svc.cluster.local.",
    ] {
        for qtype in [RecordType::A, RecordType::AAAA] {
            let mut message = query(name, qtype);
            message.metadata.id = 77;
            let packet = message.to_vec().unwrap();
            let a = udp_raw(with.udp(), &packet, Duration::from_secs(5))
                .await
                .unwrap();
            let b = udp_raw(without.udp(), &packet, Duration::from_secs(5))
                .await
                .unwrap();
            let (a, b) = (
                Message::from_vec(&a).unwrap(),
                Message::from_vec(&b).unwrap(),
            );
            assert_eq!(
                a.metadata.response_code, b.metadata.response_code,
                "{name} {qtype}"
            );
            assert_eq!(texts(&a.answers), texts(&b.answers), "{name} {qtype}");
            assert_eq!(a.queries, b.queries, "{name} {qtype}");
        }
    }
}

/// The options of an OPT record as (code, option).
fn edns_options(message: &Message) -> Vec<(u16, EdnsOption)> {
    message
        .edns
        .iter()
        .flat_map(|edns| edns.options().as_ref())
        .map(|(code, option)| (u16::from(*code), option.clone()))
        .collect()
}

/// `rewrite edns0` in front of `forward`: the upstream receives the options the rules
/// set (a local option, an empty NSID, the client's subnet), the client's own
/// end-to-end options with them but not its cookie, and the client gets the upstream's
/// answer with its own EDNS (none when it sent none).
#[tokio::test]
async fn edns0_options_reach_the_upstream() {
    let requests: Arc<Mutex<Vec<Message>>> = Arc::default();
    let seen = requests.clone();
    let upstream = Upstream::start(true, move |request| {
        seen.lock().unwrap().push(request.clone());
        let mut reply = reply_to(request);
        reply.add_answer(Record::from_rdata(
            request.queries[0].name().clone(),
            60,
            RData::A(A::new(192, 0, 2, 1)),
        ));
        Some(reply)
    })
    .await;
    let corefile = format!(
        "example.org {{
    rewrite continue edns0 local set 0xffee 0x61626364
    rewrite continue edns0 nsid set
    rewrite edns0 subnet set 24 56
    forward . {}
}}
",
        upstream.addr
    );
    let server = TestServer::start(&corefile, &[]).await;
    let nsid = EdnsOption::NSID(NSIDPayload::new(Vec::new()).unwrap());
    let subnet = EdnsOption::Subnet(ClientSubnet::new("127.0.0.0".parse().unwrap(), 24, 0));

    // A client without EDNS: the rules add an OPT record upstream; the client's answer
    // has none.
    let reply = udp(server.udp(), &query("www.example.org.", RecordType::A)).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(texts(&reply.answers), ["www.example.org. 60 A 192.0.2.1"]);
    assert!(reply.edns.is_none(), "the client sent no OPT record");
    let sent = requests
        .lock()
        .unwrap()
        .pop()
        .expect("the upstream was asked");
    assert_eq!(
        edns_options(&sent),
        [
            (0xffee, EdnsOption::Unknown(0xffee, b"abcd".to_vec())),
            (3, nsid.clone()),
            (8, subnet.clone()),
        ]
    );

    // A client with EDNS, a cookie and an option of its own, over TCP.
    let mut asked = query_edns("WWW.example.org.", RecordType::A, 1232);
    let edns = asked.edns.as_mut().unwrap();
    edns.options_mut()
        .insert(EdnsOption::Unknown(10, vec![7; 8]));
    edns.options_mut()
        .insert(EdnsOption::Unknown(0xfff0, b"mine".to_vec()));
    let reply = tcp(server.tcp(), &asked).await;
    assert_eq!(texts(&reply.answers), ["WWW.example.org. 60 A 192.0.2.1"]);
    assert!(reply.edns.is_some(), "the client's EDNS is answered");
    let sent = requests
        .lock()
        .unwrap()
        .pop()
        .expect("the upstream was asked");
    assert_eq!(
        edns_options(&sent),
        [
            (0xfff0, EdnsOption::Unknown(0xfff0, b"mine".to_vec())),
            (0xffee, EdnsOption::Unknown(0xffee, b"abcd".to_vec())),
            (3, nsid),
            (8, subnet),
        ],
        "the cookie is not sent upstream"
    );
}

/// A UDP upstream that answers each query after `delay` with an A record whose last
/// two bytes are the data of its EDNS option 0xffee (0.0 without one); counts queries.
async fn echoing_slow_upstream(delay: Duration) -> (SocketAddr, Arc<AtomicUsize>) {
    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = socket.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let Ok(request) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            seen.fetch_add(1, Ordering::SeqCst);
            let data = match request
                .edns
                .as_ref()
                .and_then(|e| e.option(EdnsCode::from(0xffee)))
            {
                Some(EdnsOption::Unknown(_, data)) if data.len() == 2 => [data[0], data[1]],
                _ => [0, 0],
            };
            let mut reply = reply_to(&request);
            reply.add_answer(Record::from_rdata(
                request.queries[0].name().clone(),
                60,
                RData::A(A::new(10, 0, data[0], data[1])),
            ));
            let socket = socket.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = socket.send_to(&reply.to_vec().unwrap(), from).await;
            });
        }
    });
    (addr, count)
}

/// Asks `name` A over UDP from a fresh socket; the answer's address and the client's port.
async fn ask_from_own_port(server: SocketAddr, name: &str) -> (String, u16) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = socket.local_addr().unwrap().port();
    let packet = query(name, RecordType::A).to_vec().unwrap();
    socket.send_to(&packet, server).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let (len, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
        .await
        .expect("answered")
        .unwrap();
    let reply = Message::from_vec(&buf[..len]).unwrap();
    let address = match reply.answers.first().map(|r| &r.data) {
        Some(RData::A(a)) => a.to_string(),
        other => panic!("{name}: {other:?}"),
    };
    (address, port)
}

/// Coalescing in `forward` keys on the EDNS options sent: two clients whose rewritten
/// options differ ({client_port}) are each asked for and each get their own answer,
/// while two with the same options in flight at once share one upstream query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_with_other_edns_options_are_not_coalesced() {
    let (upstream, upstream_queries) = echoing_slow_upstream(Duration::from_millis(400)).await;
    let corefile = format!(
        "port.example {{
    rewrite edns0 local set 0xffee {{client_port}}
    forward . {upstream}
}}
same.example {{
    rewrite edns0 local set 0xffee 0x0102
    forward . {upstream}
}}
"
    );
    let server = TestServer::start(&corefile, &[]).await;
    let dns = server.udp();

    // The same options: one upstream query, both clients answered.
    let (a, b) = tokio::join!(
        ask_from_own_port(dns, "www.same.example."),
        ask_from_own_port(dns, "www.same.example."),
    );
    assert_eq!((a.0.as_str(), b.0.as_str()), ("10.0.1.2", "10.0.1.2"));
    assert_eq!(
        upstream_queries.load(Ordering::SeqCst),
        1,
        "identical questions in flight together are coalesced"
    );

    // Options that differ by client: one upstream query each, each its own answer.
    let (a, b) = tokio::join!(
        ask_from_own_port(dns, "www.port.example."),
        ask_from_own_port(dns, "www.port.example."),
    );
    for (address, port) in [a, b] {
        let [high, low] = port.to_be_bytes();
        assert_eq!(address, format!("10.0.{high}.{low}"), "its own answer");
    }
    assert_eq!(upstream_queries.load(Ordering::SeqCst), 3);
}
