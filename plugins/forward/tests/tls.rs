//! DNS over TLS against a fake DoT server on loopback.
//!
//! The certificates in `tests/data` were made once with openssl and are valid until
//! 2126: `ca.pem` (a test CA, its key thrown away), `server.pem`/`server.key` for
//! `dns.example` and IP 127.0.0.1, `client.pem`/`client.key` for client
//! authentication.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clusterdns_api::proto::op::{Message, MessageType, Query, ResponseCode};
use clusterdns_api::proto::rr::rdata::A;
use clusterdns_api::proto::rr::{Name, RData, Record, RecordType};
use clusterdns_api::testing::{directive, setup_ctx};
use clusterdns_api::{Ctx, Next, Plugin, PluginError, Protocol, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig, crypto};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A DoT server answering every A query with 192.0.2.1.
struct DotServer {
    addr: SocketAddr,
    accepts: Arc<AtomicUsize>,
    queries: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DotServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DotServer {
    async fn start(require_client_cert: bool) -> Self {
        let provider = Arc::new(crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = if require_client_cert {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(data("ca.pem")).unwrap() {
                roots.add(cert.unwrap()).unwrap();
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let certs = CertificateDer::pem_file_iter(data("server.pem"))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(data("server.key")).unwrap();
        let config = builder.with_single_cert(certs, key).unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepts = Arc::new(AtomicUsize::new(0));
        let queries = Arc::new(AtomicUsize::new(0));
        let (accepted, asked) = (accepts.clone(), queries.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, accepted, asked) =
                    (acceptor.clone(), accepted.clone(), asked.clone());
                tokio::spawn(async move {
                    let Ok(mut stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    accepted.fetch_add(1, Ordering::SeqCst);
                    loop {
                        let Ok(len) = stream.read_u16().await else {
                            return;
                        };
                        let mut buf = vec![0u8; usize::from(len)];
                        if stream.read_exact(&mut buf).await.is_err() {
                            return;
                        }
                        let request = Message::from_vec(&buf).unwrap();
                        asked.fetch_add(1, Ordering::SeqCst);
                        let reply = answer(&request).to_vec().unwrap();
                        let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                        framed.extend_from_slice(&reply);
                        if stream.write_all(&framed).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self {
            addr,
            accepts,
            queries,
            task,
        }
    }
}

fn answer(request: &Message) -> Message {
    let question = request.queries[0].clone();
    let mut message = Message::new(
        request.metadata.id,
        MessageType::Response,
        request.metadata.op_code,
    );
    message.metadata.recursion_available = true;
    if question.query_type() == RecordType::A {
        message.add_answer(Record::from_rdata(
            question.name().clone(),
            60,
            RData::A(A::new(192, 0, 2, 1)),
        ));
    }
    message.add_query(question);
    message
}

fn plugin(text: &str) -> Arc<dyn Plugin> {
    clusterdns_forward::setup(&directive(text), &mut setup_ctx())
        .unwrap()
        .unwrap()
}

async fn ask(plugin: &Arc<dyn Plugin>, protocol: Protocol) -> Result<Response, PluginError> {
    let query = Query::query(Name::from_ascii("www.example.org.").unwrap(), RecordType::A);
    let mut ctx = Ctx::new(query, "127.0.0.1:5300".parse().unwrap(), protocol);
    let chain: Vec<Arc<dyn Plugin>> = Vec::new();
    plugin.serve(&mut ctx, Next::new(&chain)).await
}

#[tokio::test]
async fn forwards_over_tls_and_reuses_the_connection() {
    let server = DotServer::start(false).await;
    let ca = data("ca.pem");
    for to in [
        format!("tls://127.0.0.1%dns.example:{}", server.addr.port()),
        // Without a name the certificate must be valid for the address: it is.
        format!("tls://{}", server.addr),
    ] {
        let forward = plugin(&format!("forward . {to} {{\ntls {}\n}}", ca.display()));
        let before = server.accepts.load(Ordering::SeqCst);
        for protocol in [Protocol::Udp, Protocol::Tcp, Protocol::Udp] {
            let response = ask(&forward, protocol).await.unwrap();
            assert_eq!(response.writer, "forward");
            assert_eq!(response.rcode(), ResponseCode::NoError);
            assert!(response.message.metadata.recursion_available);
            assert_eq!(response.message.answers.len(), 1, "{to}");
        }
        assert_eq!(
            server.accepts.load(Ordering::SeqCst) - before,
            1,
            "{to}: UDP and TCP clients alike go over one TLS connection"
        );
    }
    assert_eq!(server.queries.load(Ordering::SeqCst), 6);

    let forward = plugin(&format!(
        "forward . tls://{} {{\ntls_servername dns.example\ntls {}\n}}",
        server.addr,
        ca.display()
    ));
    assert!(ask(&forward, Protocol::Udp).await.is_ok());
}

#[tokio::test]
async fn refuses_a_certificate_for_another_name_or_ca() {
    let server = DotServer::start(false).await;
    let port = server.addr.port();
    let ca = data("ca.pem");
    let wrong_name = plugin(&format!(
        "forward . tls://127.0.0.1%other.example:{port} {{\ntls {}\nmax_fails 0\n}}",
        ca.display()
    ));
    // Mozilla's roots do not include the test CA.
    let wrong_ca = plugin(&format!(
        "forward . tls://127.0.0.1%dns.example:{port} {{\nmax_fails 0\n}}"
    ));
    for forward in [wrong_name, wrong_ca] {
        let start = Instant::now();
        let err = ask(&forward, Protocol::Udp).await.unwrap_err().to_string();
        assert!(start.elapsed() < Duration::from_secs(2), "fails fast");
        assert!(err.contains("TLS handshake"), "{err}");
        assert!(
            err.starts_with("forward: www.example.org. A: upstream 127.0.0.1:"),
            "{err}"
        );
    }
    assert_eq!(server.queries.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn authenticates_with_a_client_certificate() {
    let server = DotServer::start(true).await;
    let port = server.addr.port();
    let (ca, cert, key) = (data("ca.pem"), data("client.pem"), data("client.key"));
    let with_cert = plugin(&format!(
        "forward . tls://127.0.0.1%dns.example:{port} {{\ntls {} {} {}\n}}",
        cert.display(),
        key.display(),
        ca.display()
    ));
    let response = ask(&with_cert, Protocol::Udp).await.unwrap();
    assert_eq!(response.message.answers.len(), 1);

    let without = plugin(&format!(
        "forward . tls://127.0.0.1%dns.example:{port} {{\ntls {}\nmax_fails 0\nread_timeout 500ms\n}}",
        ca.display()
    ));
    assert!(ask(&without, Protocol::Udp).await.is_err());
    assert_eq!(server.queries.load(Ordering::SeqCst), 1);
}
