//! Truncated answers, through real sockets: a UDP answer that does not fit is a
//! well-formed message (its length exactly the sum of its parts, TC set, whole records
//! only), on both request paths, with and without EDNS, at every payload size; and a
//! plugin's own TC (a truncated upstream answer) reaches the client.

use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use crate::support::{TestServer, Upstream, reply_to, tcp, udp_raw};

/// Endpoint counts of the headless services: around the 512-byte edge (29 A records
/// fit without EDNS), around 1232, and far beyond.
const SIZES: &[usize] = &[1, 2, 7, 28, 29, 30, 31, 60, 75, 76, 77, 120, 300];

/// A namespace `t` with a headless service `big-N` of N ready endpoints (IPv4 and
/// IPv6, each with a hostname and a named port) for every N in [`SIZES`].
fn cluster() -> String {
    let mut yaml = String::from("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: t\n");
    for &n in SIZES {
        yaml.push_str(&format!(
            "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: big-{n}\n  namespace: t\n\
             spec:\n  clusterIP: None\n  ports:\n  - name: http\n    port: 80\n    protocol: TCP\n"
        ));
        for family in ["IPv4", "IPv6"] {
            yaml.push_str(&format!(
                "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  \
                 name: big-{n}-{}\n  namespace: t\n  labels:\n    \
                 kubernetes.io/service-name: big-{n}\naddressType: {family}\nports:\n\
                 - name: http\n  port: 80\n  protocol: TCP\nendpoints:\n",
                family.to_lowercase()
            ));
            for i in 0..n {
                let address = if family == "IPv4" {
                    format!("10.{}.{}.{}", n % 256, i / 256, i % 256)
                } else {
                    format!("fd00::{n:x}:{i:x}")
                };
                yaml.push_str(&format!(
                    "- addresses: [\"{address}\"]\n  hostname: endpoint-{i}\n  \
                     conditions:\n    ready: true\n"
                ));
            }
        }
    }
    yaml
}

/// A message decoded strictly: every byte accounted for, nothing after the last record.
fn strict_decode(bytes: &[u8]) -> Message {
    let mut decoder = BinDecoder::new(bytes);
    let message = Message::read(&mut decoder).expect("a well-formed message");
    assert_eq!(
        decoder.len(),
        0,
        "{} bytes after the last record of a {}-byte answer",
        decoder.len(),
        bytes.len()
    );
    message
}

/// Sends `request` over UDP and decodes the answer strictly.
async fn ask_udp(server: std::net::SocketAddr, request: &Message) -> (Vec<u8>, Message) {
    let bytes = udp_raw(server, &request.to_vec().unwrap(), Duration::from_secs(5))
        .await
        .expect("an answer");
    let reply = strict_decode(&bytes);
    (bytes, reply)
}

fn query(name: &str, qtype: RecordType, payload: Option<u16>) -> Message {
    let mut message = Message::new(0x7e57, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if let Some(payload) = payload {
        let mut edns = Edns::new();
        edns.set_max_payload(payload);
        message.set_edns(edns);
    }
    message
}

/// Every UDP answer, truncated or not, decodes strictly, fits the client's size, keeps
/// whole records in the order of the full (TCP) answer, and sets TC exactly when
/// records were left out of the answer section.
#[tokio::test]
async fn truncated_answers_are_well_formed_on_both_paths() {
    let cluster = cluster();
    let files = [("cluster.yaml", cluster.as_str())];
    // The kubeadm chain takes the wire path where it can; `log` in front of it sends
    // every query down the ordinary path.
    let wire = TestServer::start(
        "cluster.local {\n  bind 127.0.0.1\n  kubernetes { manifests cluster.yaml }\n}\n",
        &files,
    )
    .await;
    let ordinary = TestServer::start(
        "cluster.local {\n  bind 127.0.0.1\n  log . { class denial }\n  kubernetes { manifests cluster.yaml }\n}\n",
        &files,
    )
    .await;
    let mut payloads: Vec<Option<u16>> = vec![None];
    payloads.extend((512..=4096).step_by(89).map(Some));
    payloads.extend([511, 513, 1231, 1232, 1233, 4096].map(Some));
    let mut truncated = 0;
    for server in [&wire, &ordinary] {
        for &n in SIZES {
            let name = format!("big-{n}.t.svc.cluster.local.");
            for qtype in [RecordType::A, RecordType::AAAA, RecordType::SRV] {
                let full = tcp(server.tcp(), &query(&name, qtype, None)).await;
                assert_eq!(full.metadata.response_code, ResponseCode::NoError, "{name}");
                assert!(!full.metadata.truncation);
                assert_eq!(
                    full.answers.len(),
                    n,
                    "{name} {qtype}: all records over TCP"
                );
                for &payload in &payloads {
                    let request = query(&name, qtype, payload);
                    let (bytes, reply) = ask_udp(server.udp(), &request).await;
                    let limit = payload.map_or(512, |p| p.clamp(512, 1232));
                    let case = format!("{name} {qtype} payload {payload:?}");
                    assert!(
                        bytes.len() <= usize::from(limit),
                        "{case}: {} bytes",
                        bytes.len()
                    );
                    assert_eq!(reply.metadata.id, request.metadata.id, "{case}");
                    assert_eq!(reply.queries, request.queries, "{case}");
                    assert_eq!(reply.edns.is_some(), payload.is_some(), "{case}: OPT");
                    let complete = reply.answers.len() == full.answers.len();
                    assert_eq!(reply.metadata.truncation, !complete, "{case}: TC");
                    assert_eq!(
                        reply.answers[..],
                        full.answers[..reply.answers.len()],
                        "{case}: whole records, in order"
                    );
                    if !complete {
                        truncated += 1;
                        assert!(reply.authorities.is_empty() && reply.additionals.is_empty());
                    }
                }
            }
        }
    }
    assert!(
        truncated > 100,
        "the sizes must exercise truncation: {truncated}"
    );
}

/// An upstream that only speaks UDP and truncates its answer for `big.example.`:
/// three A records with TC set. Its TCP port refuses connections.
async fn truncating_upstream() -> Upstream {
    Upstream::start(false, |request| {
        let mut reply = reply_to(request);
        let question = request.queries.first()?;
        if question.name().to_lowercase().to_string() == "big.example."
            && question.query_type() == RecordType::A
        {
            reply.metadata.truncation = true;
            for last in 1..=3 {
                reply.answers.push(Record::from_rdata(
                    question.name().clone(),
                    60,
                    RData::A(A::new(192, 0, 2, last)),
                ));
            }
        } else {
            reply.metadata.response_code = ResponseCode::NXDomain;
        }
        Some(reply)
    })
    .await
}

/// A truncated upstream answer that forward cannot complete over TCP is returned with
/// its TC bit, so the client knows to retry over TCP; and an ExternalName chased
/// through it is truncated too.
#[tokio::test]
async fn a_truncated_upstream_answer_keeps_its_tc_bit() {
    let upstream = truncating_upstream().await;
    let cluster = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: t\n---\napiVersion: v1\n\
                   kind: Service\nmetadata:\n  name: ext\n  namespace: t\nspec:\n  \
                   type: ExternalName\n  externalName: big.example\n";
    let corefile = format!(
        ".:0 {{\n  bind 127.0.0.1\n  kubernetes cluster.local {{ manifests cluster.yaml }}\n  \
         forward . {} {{\n    max_fails 0\n  }}\n}}\n",
        upstream.addr
    );
    let server = TestServer::start(&corefile, &[("cluster.yaml", cluster)]).await;

    let direct = query("big.example.", RecordType::A, None);
    let (_, reply) = ask_udp(server.udp(), &direct).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(
        reply.metadata.truncation,
        "TC of the upstream's answer kept"
    );
    assert_eq!(reply.answers.len(), 3);

    let chased = query("ext.t.svc.cluster.local.", RecordType::A, Some(1232));
    let (_, reply) = ask_udp(server.udp(), &chased).await;
    assert!(reply.metadata.truncation, "TC of the chased answer kept");
    assert_eq!(
        reply.answers.first().map(|r| r.data.clone()),
        Some(RData::CNAME(CNAME(
            Name::from_ascii("big.example.").unwrap()
        )))
    );
    assert_eq!(reply.answers.len(), 4);
}

/// `bufsize` sets the block's payload size on both paths: answers to EDNS clients are
/// at most that large (or the client's size), and the OPT record advertises it.
#[tokio::test]
async fn bufsize_caps_and_advertises_the_payload_size() {
    let cluster = cluster();
    let files = [("cluster.yaml", cluster.as_str())];
    for (bufsize, chain) in [
        (600u16, ""),
        (600, "log . { class denial }"),
        (4096, ""),
        (4096, "log . { class denial }"),
    ] {
        let corefile = format!(
            "cluster.local {{\n  bind 127.0.0.1\n  bufsize {bufsize}\n  {chain}\n  kubernetes {{ manifests cluster.yaml }}\n}}\n"
        );
        let server = TestServer::start(&corefile, &files).await;
        for (name, qtype) in [
            ("big-1.t.svc.cluster.local.", RecordType::A),
            ("big-60.t.svc.cluster.local.", RecordType::A),
            ("big-120.t.svc.cluster.local.", RecordType::AAAA),
        ] {
            let full = tcp(server.tcp(), &query(name, qtype, None)).await;
            for client in [512u16, 1000, 4096] {
                let request = query(name, qtype, Some(client));
                let (bytes, reply) = ask_udp(server.udp(), &request).await;
                let case = format!("bufsize {bufsize} {chain:?} {name} {qtype} client {client}");
                assert!(
                    bytes.len() <= usize::from(client.min(bufsize)),
                    "{case}: {} bytes",
                    bytes.len()
                );
                assert_eq!(
                    reply.edns.as_ref().map(Edns::max_payload),
                    Some(bufsize),
                    "{case}"
                );
                let complete = reply.answers.len() == full.answers.len();
                assert_eq!(reply.metadata.truncation, !complete, "{case}");
                // What would fit does fit: the whole answer when it is small enough.
                let whole = full.to_vec().unwrap().len() + 11;
                if whole <= usize::from(client.min(bufsize)) {
                    assert!(complete, "{case}: {whole} bytes would fit");
                }
            }
        }
    }
}
