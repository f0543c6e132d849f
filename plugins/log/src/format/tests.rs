use super::*;

fn entry() -> Entry {
    let mut header = Metadata::new(39437, MessageType::Response, OpCode::Query);
    header.recursion_desired = true;
    header.authoritative = true;
    Entry {
        name: "example.org.".to_owned(),
        qtype: RecordType::A,
        qclass: DNSClass::IN,
        protocol: Protocol::Udp,
        remote: "127.0.0.1:40212".parse().expect("addr"),
        local: "10.96.0.10:53".parse().expect("addr"),
        size: 41,
        id: 39437,
        opcode: OpCode::Query,
        dnssec_ok: false,
        bufsize: 512,
        header,
        rsize: Some(68),
        duration: Duration::from_nanos(123_456),
        response_type: ResponseType::NoError,
    }
}

#[test]
fn common_log_format() {
    assert_eq!(
        Format::default().render(&entry()),
        r#"127.0.0.1:40212 - 39437 "A IN example.org. udp 41 false 512" NOERROR qr,aa,rd 68 0.000123456s"#
    );
    assert_eq!(Format::parse("{common}"), Format::default());
}

#[test]
fn combined_adds_the_opcode() {
    assert_eq!(
        Format::parse("{combined}").render(&entry()),
        r#"127.0.0.1:40212 - 39437 "A IN example.org. udp 41 false 512" NOERROR qr,aa,rd 68 0.000123456s "0""#
    );
}

#[test]
fn ipv6_tcp_dnssec_and_errors() {
    let mut e = entry();
    e.remote = "[2001:db8::1]:50759".parse().expect("addr");
    e.protocol = Protocol::Tcp;
    e.qtype = RecordType::AAAA;
    e.dnssec_ok = true;
    e.bufsize = 65535;
    e.header.response_code = ResponseCode::NXDomain;
    e.header.authoritative = false;
    e.header.recursion_available = true;
    e.header.authentic_data = true;
    e.header.checking_disabled = true;
    e.header.truncation = true;
    e.duration = Duration::from_millis(37);
    e.rsize = None;
    assert_eq!(
        Format::default().render(&e),
        r#"[2001:db8::1]:50759 - 39437 "AAAA IN example.org. tcp 41 true 65535" NXDOMAIN qr,tc,rd,ra,ad,cd - 0.037s"#
    );
}

#[test]
fn every_placeholder() {
    let mut e = entry();
    e.remote = "[::ffff:192.0.2.9]:1".parse().expect("addr");
    e.local = "[fd00::53]:53".parse().expect("addr");
    e.opcode = OpCode::Notify;
    e.qtype = RecordType::Unknown(65534);
    e.qclass = DNSClass::CH;
    e.header.response_code = ResponseCode::Unknown(3841);
    e.header.message_type = MessageType::Query;
    e.header.authoritative = false;
    e.header.recursion_desired = false;
    e.duration = Duration::ZERO;
    e.response_type = ResponseType::NoData;
    let format = Format::parse(
        "{type}|{name}|{class}|{proto}|{size}|{remote}|{port}|{local}|{>id}|{>opcode}|{>do}|\
         {>bufsize}|{rcode}|{rsize}|{duration}|{>rflags}|{/log/type}|{/log/class}|{/other}",
    );
    assert_eq!(
        format.render(&e),
        "TYPE65534|example.org.|CH|udp|41|192.0.2.9|1|[fd00::53]|39437|4|false|512|3841|68|0s||\
         NODATA|denial|-"
    );
}

#[test]
fn braces_and_unknown_placeholders_stay_literal() {
    let e = entry();
    assert_eq!(Format::parse("{ {type} }").render(&e), "{ A }");
    assert_eq!(Format::parse("A } {name}").render(&e), "A } example.org.");
    assert_eq!(Format::parse("{x} {proto} {").render(&e), "{x} udp {");
    assert_eq!(
        Format::parse("no placeholders").render(&e),
        "no placeholders"
    );
    assert_eq!(
        Format::parse("{proto} Request: {name} {type} {>id}").render(&e),
        "udp Request: example.org. A 39437"
    );
}

#[test]
fn rsize_is_only_needed_when_shown() {
    assert!(Format::default().needs_rsize());
    assert!(!Format::parse("{name} {type}").needs_rsize());
}

#[test]
fn rcode_names_match_coredns() {
    let cases = [
        (ResponseCode::NoError, "NOERROR"),
        (ResponseCode::FormErr, "FORMERR"),
        (ResponseCode::ServFail, "SERVFAIL"),
        (ResponseCode::NXDomain, "NXDOMAIN"),
        (ResponseCode::NotImp, "NOTIMP"),
        (ResponseCode::Refused, "REFUSED"),
        (ResponseCode::NotZone, "NOTZONE"),
        (ResponseCode::BADVERS, "BADSIG"),
        (ResponseCode::BADCOOKIE, "BADCOOKIE"),
        (ResponseCode::Unknown(11), "11"),
    ];
    for (rcode, name) in cases {
        assert_eq!(rcode_name(rcode), name);
    }
}
