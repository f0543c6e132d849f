use std::net::SocketAddr;
use std::path::PathBuf;

use clusterdns_api::proto::op::Query;
use clusterdns_api::proto::rr::{DNSClass, RecordType};
use clusterdns_api::{Protocol, Readiness, Token};

use super::*;

fn directive(args: &[&str]) -> Directive {
    Directive {
        name: Token::synthetic("whoami"),
        args: args.iter().map(|a| Token::synthetic(a)).collect(),
        block: None,
    }
}

fn setup_ctx() -> SetupCtx {
    SetupCtx::new(vec![Name::root()], 53, PathBuf::from("."), Readiness::new())
}

/// A plugin that must never be reached: whoami answers on its own.
struct Unreachable;

impl Plugin for Unreachable {
    fn name(&self) -> &'static str {
        "unreachable"
    }

    fn serve<'a>(
        &'a self,
        _ctx: &'a mut Ctx,
        _next: Next<'a>,
    ) -> BoxFuture<'a, Result<Response, PluginError>> {
        Box::pin(async { Err(PluginError::failed("unreachable", "whoami called next")) })
    }
}

async fn ask(name: &str, qtype: RecordType, src: &str, protocol: Protocol) -> Response {
    let plugin = setup(&directive(&[]), &mut setup_ctx())
        .expect("setup")
        .expect("a chain plugin");
    let query = Query::query(Name::from_ascii(name).expect("name"), qtype);
    let src: SocketAddr = src.parse().expect("address");
    let mut ctx = Ctx::new(query, src, protocol);
    let chain: Vec<Arc<dyn Plugin>> = vec![Arc::new(Unreachable)];
    plugin
        .serve(&mut ctx, Next::new(&chain))
        .await
        .expect("whoami answers")
}

#[tokio::test]
async fn answers_ipv4_client_with_a_and_srv() {
    let response = ask(
        "Example.org.",
        RecordType::A,
        "10.240.0.1:40212",
        Protocol::Udp,
    )
    .await;
    let message = &response.message;
    assert_eq!(response.writer, "whoami");
    assert_eq!(message.metadata.response_code, ResponseCode::NoError);
    assert!(message.metadata.authoritative);
    assert!(message.answers.is_empty());
    assert!(message.authorities.is_empty());
    assert_eq!(message.additionals.len(), 2);

    let a = &message.additionals[0];
    assert_eq!(a.name, Name::from_ascii("Example.org.").expect("name"));
    assert_eq!(
        a.name.to_ascii(),
        "Example.org.",
        "the query's case is kept"
    );
    assert_eq!(a.ttl, 0);
    assert_eq!(a.dns_class, DNSClass::IN);
    assert_eq!(a.data, RData::A(A::new(10, 240, 0, 1)));

    let srv = &message.additionals[1];
    assert_eq!(srv.name.to_ascii(), "_udp.Example.org.");
    assert_eq!(srv.ttl, 0);
    assert_eq!(
        srv.data,
        RData::SRV(SRV::new(0, 0, 40212, Name::root())),
        "priority 0, weight 0, the client's port, target the root as in CoreDNS"
    );
}

#[tokio::test]
async fn answers_ipv6_client_with_aaaa_over_tcp() {
    let response = ask(
        "example.org.",
        RecordType::MX,
        "[2001:db8::5]:5353",
        Protocol::Tcp,
    )
    .await;
    let additionals = &response.message.additionals;
    assert_eq!(
        additionals[0].data,
        RData::AAAA(AAAA("2001:db8::5".parse().expect("ip")))
    );
    assert_eq!(additionals[1].name.to_ascii(), "_tcp.example.org.");
    assert_eq!(
        additionals[1].data,
        RData::SRV(SRV::new(0, 0, 5353, Name::root()))
    );
}

#[tokio::test]
async fn ipv4_mapped_client_gets_an_a_record() {
    let response = ask(
        "example.org.",
        RecordType::A,
        "[::ffff:192.0.2.7]:1000",
        Protocol::Udp,
    )
    .await;
    assert_eq!(
        response.message.additionals[0].data,
        RData::A(A::new(192, 0, 2, 7))
    );
}

#[tokio::test]
async fn root_query_gets_srv_under_transport_label() {
    let response = ask(".", RecordType::NS, "127.0.0.1:53000", Protocol::Udp).await;
    let additionals = &response.message.additionals;
    assert_eq!(additionals[0].name, Name::root());
    assert_eq!(additionals[1].name.to_ascii(), "_udp.");
}

#[test]
fn rejects_arguments_and_blocks() {
    let err = setup(&directive(&["extra"]), &mut setup_ctx())
        .err()
        .expect("an argument is refused");
    assert!(err.message.contains("wrong argument count"), "{err}");

    let mut with_block = directive(&[]);
    with_block.block = Some(vec![directive(&[])]);
    assert!(setup(&with_block, &mut setup_ctx()).is_err());
}

/// The wire answer to `name` from `client` over UDP or TCP, decoded; `None` when it
/// goes the ordinary way.
fn wire(
    name: &str,
    qtype: RecordType,
    client: &str,
    over_udp: bool,
) -> Option<hickory_proto::op::Message> {
    use clusterdns_api::proto::op::{Message, MessageType, OpCode};
    let mut message = Message::new(99, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    let packet = message.to_vec().unwrap();
    let mut query = WireQuery::parse(&packet, over_udp).unwrap();
    query.set_client(client.parse().unwrap());
    let mut buf = Vec::new();
    match Whoami.serve_wire(&mut query, &mut buf) {
        Wire::Answered { rcode, writer } => {
            assert_eq!((rcode, writer), (ResponseCode::NoError, NAME));
            Some(Message::from_vec(&buf).unwrap())
        }
        Wire::Ordinary => None,
        Wire::Pass => panic!("whoami never passes"),
    }
}

#[tokio::test]
async fn the_wire_path_answers_as_serve_does() {
    let lines = |records: &[Record]| {
        records
            .iter()
            .map(|r| format!("{} {} {} {}", r.name, r.ttl, r.record_type(), r.data))
            .collect::<Vec<_>>()
    };
    for (client, over_udp) in [
        ("10.0.0.99:5353", true),
        ("[fd00::7]:40000", false),
        ("[::ffff:10.1.2.3]:53", true),
    ] {
        for name in ["Who.Example.", "a.b.c.example.", "x."] {
            let protocol = if over_udp {
                Protocol::Udp
            } else {
                Protocol::Tcp
            };
            let reply = wire(name, RecordType::A, client, over_udp).unwrap();
            let expected = ask(name, RecordType::A, client, protocol).await;
            assert!(reply.metadata.authoritative);
            assert_eq!(reply.queries[0].name().to_string(), name);
            assert!(reply.answers.is_empty());
            assert_eq!(
                lines(&reply.additionals),
                lines(&expected.message.additionals),
                "{name} {client}"
            );
        }
    }
    // The root is written without a pointer on the ordinary path.
    assert!(wire(".", RecordType::A, "10.0.0.1:53", true).is_none());
}
