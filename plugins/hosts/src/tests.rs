//! End-to-end tests: `setup` from a directive, then queries through a chain.

use std::time::Duration;

use clusterdns_api::proto::op::ResponseCode;
use clusterdns_api::proto::rr::{RData, RecordType};

use crate::setup;
use crate::test_support::{TempDir, ask, directive, setup_ctx};

fn build(text: &str, zones: &[&str]) -> std::sync::Arc<dyn clusterdns_api::Plugin> {
    let mut ctx = setup_ctx(zones);
    setup(&directive(text), &mut ctx).unwrap().unwrap()
}

fn rdata(response: &clusterdns_api::Response) -> Vec<String> {
    response
        .message
        .answers
        .iter()
        .map(|r| r.data.to_string())
        .collect()
}

const INLINE: &str = "hosts /nonexistent/hosts {\n\
    10.0.0.1 web.example.org www.example.org\n\
    10.0.0.2 web.example.org\n\
    fd00::1 web.example.org v6only.example.org\n\
    192.168.1.1 outside.example.net\n\
    10.9.9.9 *.apps.example.org\n\
    }";

#[tokio::test]
async fn answers_a_and_aaaa_with_the_client_spelling() {
    let hosts = build(INLINE, &["example.org."]);
    let response = ask(&hosts, "WeB.Example.ORG.", RecordType::A).await;
    assert_eq!(response.rcode(), ResponseCode::NoError);
    assert!(response.message.metadata.authoritative);
    assert_eq!(response.writer, "hosts");
    assert_eq!(rdata(&response), ["10.0.0.1", "10.0.0.2"]);
    for record in &response.message.answers {
        assert_eq!(record.name.to_ascii(), "WeB.Example.ORG.");
        assert_eq!(record.ttl, 3600);
    }
    let response = ask(&hosts, "web.example.org.", RecordType::AAAA).await;
    assert_eq!(rdata(&response), ["fd00::1"]);
    assert_eq!(response.message.answers[0].record_type(), RecordType::AAAA);
}

#[tokio::test]
async fn answers_ptr_unless_no_reverse() {
    let hosts = build(INLINE, &["example.org."]);
    let response = ask(&hosts, "1.0.0.10.In-Addr.Arpa.", RecordType::PTR).await;
    assert_eq!(rdata(&response), ["web.example.org.", "www.example.org."]);
    assert_eq!(
        response.message.answers[0].name.to_ascii(),
        "1.0.0.10.In-Addr.Arpa."
    );
    let v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.";
    let response = ask(&hosts, v6, RecordType::PTR).await;
    assert!(matches!(&response.message.answers[0].data, RData::PTR(_)));
    assert_eq!(
        rdata(&response),
        ["web.example.org.", "v6only.example.org."]
    );

    // Unknown addresses, partial reverse names and names outside the zones go on.
    for name in [
        "9.0.0.10.in-addr.arpa.",
        "10.in-addr.arpa.",
        "1.1.168.192.in-addr.arpa.",
    ] {
        assert_eq!(
            ask(&hosts, name, RecordType::PTR).await.writer,
            "next",
            "{name}"
        );
    }

    let hosts = build(
        "hosts /nonexistent {\n10.0.0.1 web.example.org\nno_reverse\n}",
        &["."],
    );
    let response = ask(&hosts, "1.0.0.10.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(response.writer, "next");
}

#[tokio::test]
async fn nodata_nxdomain_and_outside_zones() {
    let hosts = build(INLINE, &["example.org."]);
    let nodata = ask(&hosts, "v6only.example.org.", RecordType::A).await;
    assert_eq!(nodata.rcode(), ResponseCode::NoError);
    assert!(nodata.message.answers.is_empty());
    assert!(nodata.message.metadata.authoritative);
    let nodata = ask(&hosts, "web.example.org.", RecordType::MX).await;
    assert_eq!(
        (nodata.rcode(), nodata.message.answers.len()),
        (ResponseCode::NoError, 0)
    );

    let nx = ask(&hosts, "missing.example.org.", RecordType::A).await;
    assert_eq!(nx.rcode(), ResponseCode::NXDomain);
    assert_eq!(nx.writer, "hosts");

    // Not in the plugin's zones: the entry was dropped and the query goes on.
    let outside = ask(&hosts, "outside.example.net.", RecordType::A).await;
    assert_eq!(outside.writer, "next");
}

#[tokio::test]
async fn wildcard_owner_matches_one_label() {
    let hosts = build(INLINE, &["example.org."]);
    let response = ask(&hosts, "Shop.apps.example.org.", RecordType::A).await;
    assert_eq!(rdata(&response), ["10.9.9.9"]);
    assert_eq!(
        response.message.answers[0].name.to_ascii(),
        "Shop.apps.example.org."
    );
    let deeper = ask(&hosts, "a.b.apps.example.org.", RecordType::A).await;
    assert_eq!(deeper.rcode(), ResponseCode::NXDomain);
}

#[tokio::test]
async fn fallthrough_only_where_configured() {
    let hosts = build(
        "hosts /nonexistent {\n10.0.0.1 web.example.org\nfallthrough sub.example.org\n}",
        &["example.org."],
    );
    let through = ask(&hosts, "x.sub.example.org.", RecordType::A).await;
    assert_eq!(through.writer, "next");
    let nx = ask(&hosts, "x.example.org.", RecordType::A).await;
    assert_eq!(nx.rcode(), ResponseCode::NXDomain);
    // NODATA is an answer, not a miss: it does not fall through.
    let nodata = ask(&hosts, "web.example.org.", RecordType::AAAA).await;
    assert_eq!(nodata.writer, "hosts");

    let hosts = build(
        "hosts /nonexistent {\n10.0.0.1 web.example.org\nfallthrough\nfallthrough_unsupported\n}",
        &["."],
    );
    assert_eq!(
        ask(&hosts, "web.example.org.", RecordType::TXT)
            .await
            .writer,
        "next"
    );
    assert_eq!(
        ask(&hosts, "web.example.org.", RecordType::AAAA)
            .await
            .writer,
        "hosts"
    );
}

#[tokio::test]
async fn file_is_merged_after_inline_and_reloaded_when_edited() {
    let dir = TempDir::new("reload");
    dir.write(
        "hosts",
        "# managed elsewhere\n10.1.0.1 db.example.org\nbogus line here\n10.0.0.5 web.example.org\n",
    );
    let text = "hosts hosts example.org {\n10.0.0.1 web.example.org\nreload 50ms\nttl 30\n}";
    let mut ctx = setup_ctx(&["."]);
    ctx.base_dir = dir.path().to_path_buf();
    let hosts = setup(&directive(text), &mut ctx).unwrap().unwrap();

    let response = ask(&hosts, "web.example.org.", RecordType::A).await;
    assert_eq!(rdata(&response), ["10.0.0.1", "10.0.0.5"]);
    assert_eq!(response.message.answers[0].ttl, 30);
    assert_eq!(
        rdata(&ask(&hosts, "db.example.org.", RecordType::A).await),
        ["10.1.0.1"]
    );

    dir.write(
        "hosts",
        "10.1.0.2 db.example.org\n10.1.0.3 cache.example.org\n",
    );
    let mut seen = Vec::new();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        seen = rdata(&ask(&hosts, "cache.example.org.", RecordType::A).await);
        if !seen.is_empty() {
            break;
        }
    }
    assert_eq!(seen, ["10.1.0.3"]);
    assert_eq!(
        rdata(&ask(&hosts, "db.example.org.", RecordType::A).await),
        ["10.1.0.2"]
    );
    assert_eq!(
        rdata(&ask(&hosts, "web.example.org.", RecordType::A).await),
        ["10.0.0.1"]
    );

    let metrics = clusterdns_api::metrics::encode_text();
    let file = dir.path().join("hosts").display().to_string();
    assert!(
        metrics.contains(&format!("coredns_hosts_entries{{hostsfile=\"{file}\"}} 6")),
        "{metrics}"
    );
    assert!(metrics.contains(&format!(
        "coredns_hosts_reload_timestamp_seconds{{hostsfile=\"{file}\"}}"
    )));
}

#[tokio::test]
async fn reload_zero_reads_the_file_once() {
    let dir = TempDir::new("noreload");
    let path = dir.write("hosts", "10.1.0.1 db.example.org\n");
    let text = format!("hosts {} {{\nreload 0\n}}", path.display());
    let hosts = build(&text, &["."]);
    dir.write(
        "hosts",
        "10.1.0.2 db.example.org\n10.1.0.3 other.example.org\n",
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        rdata(&ask(&hosts, "db.example.org.", RecordType::A).await),
        ["10.1.0.1"]
    );
}

#[test]
fn setup_outside_a_runtime_and_setup_errors() {
    let mut ctx = setup_ctx(&["."]);
    assert!(setup(&directive("hosts"), &mut ctx).unwrap().is_some());
    let Err(err) = setup(&directive("hosts {\n  reload soon\n}"), &mut ctx) else {
        panic!("a bad duration must be rejected");
    };
    assert_eq!(err.line, 2);
    assert_eq!(err.column, 10);
}
