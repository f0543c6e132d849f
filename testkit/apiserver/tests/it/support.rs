//! A minimal HTTP client for the tests: one request per connection, JSON bodies,
//! and watch streams read line by line.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use clusterdns_test_apiserver::{ApiServer, Options, Serving};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

/// How long any single expected thing may take.
pub const WAIT: Duration = Duration::from_secs(3);

pub async fn start() -> (ApiServer, Serving) {
    start_with(Options::default()).await
}

pub async fn start_with(options: Options) -> (ApiServer, Serving) {
    let api = ApiServer::with_options(options);
    let serving = api.bind("127.0.0.1:0").await.unwrap();
    (api, serving)
}

async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    accept: Option<&str>,
    body: &str,
) -> hyper::Response<Incoming> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    if let Some(accept) = accept {
        req = req.header("accept", accept);
    }
    let req = req.body(Full::new(Bytes::from(body.to_owned()))).unwrap();
    tokio::time::timeout(WAIT, sender.send_request(req))
        .await
        .expect("response timed out")
        .unwrap()
}

/// Sends a request and returns its status and JSON body.
pub async fn call(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
    let resp = send(addr, method, path, None, body).await;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{path}: bad JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, json)
}

pub async fn get(addr: SocketAddr, path: &str) -> (u16, Value) {
    call(addr, "GET", path, "").await
}

pub async fn get_accept(addr: SocketAddr, path: &str, accept: &str) -> (u16, Value) {
    let resp = send(addr, "GET", path, Some(accept), "").await;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

/// An open watch.
pub struct Watch {
    body: Incoming,
    buf: Vec<u8>,
}

pub async fn watch(addr: SocketAddr, path: &str) -> Watch {
    watch_accept(addr, path, None).await
}

pub async fn watch_accept(addr: SocketAddr, path: &str, accept: Option<&str>) -> Watch {
    let resp = send(addr, "GET", path, accept, "").await;
    assert_eq!(resp.status(), 200, "{path}");
    assert_eq!(resp.headers()["content-type"], "application/json");
    Watch {
        body: resp.into_body(),
        buf: Vec::new(),
    }
}

impl Watch {
    /// The next event, or `None` when the stream ends (cleanly or not).
    pub async fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                return Some(serde_json::from_slice(&line).unwrap());
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
                Some(Err(_)) | None => {
                    assert!(self.buf.is_empty(), "partial event at end of stream");
                    return None;
                }
            }
        }
    }

    /// The next event; panics if the stream ends or nothing comes in time.
    pub async fn event(&mut self) -> Value {
        tokio::time::timeout(WAIT, self.next())
            .await
            .expect("no watch event in time")
            .expect("watch ended")
    }

    /// The next event that is not a bookmark.
    pub async fn change(&mut self) -> Value {
        loop {
            let e = self.event().await;
            if e["type"] != "BOOKMARK" {
                return e;
            }
        }
    }

    /// Asserts that the stream ends in time without further events.
    pub async fn ends(&mut self) {
        let next = tokio::time::timeout(WAIT, self.next())
            .await
            .expect("watch did not end in time");
        assert!(next.is_none(), "unexpected event {next:?}");
    }
}

/// `(type, name)` of an event.
pub fn summary(event: &Value) -> (String, String) {
    (
        event["type"].as_str().unwrap().to_owned(),
        event["object"]["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
    )
}

pub fn pair(ty: &str, name: &str) -> (String, String) {
    (ty.to_owned(), name.to_owned())
}

pub fn rv_of(value: &Value) -> u64 {
    value["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

pub fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_owned())
        .collect()
}
