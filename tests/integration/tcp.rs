//! TCP robustness: pipelining, slow writers, broken frames.

use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{TestServer, query, tcp};

const COREFILE: &str = "example.org {\n    bind 127.0.0.1\n    whoami\n}\n";

fn frame(message: &Message) -> Vec<u8> {
    let bytes = message.to_vec().unwrap();
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    framed
}

async fn read_answer(stream: &mut TcpStream) -> Option<Message> {
    let len = stream.read_u16().await.ok()?;
    let mut buf = vec![0u8; usize::from(len)];
    stream.read_exact(&mut buf).await.ok()?;
    Message::from_vec(&buf).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_queries_in_one_write_are_all_answered() {
    let server = TestServer::start(COREFILE, &[]).await;
    let mut stream = TcpStream::connect(server.tcp()).await.unwrap();
    let queries: Vec<Message> = (0..200)
        .map(|i| query(&format!("q{i}.example.org."), RecordType::A))
        .collect();
    let mut batch = Vec::new();
    for q in &queries {
        batch.extend_from_slice(&frame(q));
    }
    stream.write_all(&batch).await.unwrap();
    let mut ids: Vec<u16> = Vec::new();
    for _ in 0..queries.len() {
        let answer = tokio::time::timeout(Duration::from_secs(5), read_answer(&mut stream))
            .await
            .unwrap()
            .expect("an answer per query");
        assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
        ids.push(answer.metadata.id);
    }
    let mut expected: Vec<u16> = queries.iter().map(|q| q.metadata.id).collect();
    ids.sort_unstable();
    expected.sort_unstable();
    assert_eq!(ids, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_written_one_byte_at_a_time_is_answered() {
    let server = TestServer::start(COREFILE, &[]).await;
    let mut stream = TcpStream::connect(server.tcp()).await.unwrap();
    let question = query("slow.example.org.", RecordType::A);
    for byte in frame(&question) {
        stream.write_all(&[byte]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let answer = read_answer(&mut stream).await.expect("answer");
    assert_eq!(answer.metadata.id, question.metadata.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_frames_close_the_connection_not_the_server() {
    let server = TestServer::start(COREFILE, &[]).await;
    let cases: [&[u8]; 3] = [
        &[0, 0],
        &[0, 1, 7],
        &[0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    ];
    for bytes in cases {
        let mut stream = TcpStream::connect(server.tcp()).await.unwrap();
        stream.write_all(bytes).await.unwrap();
        stream.shutdown().await.unwrap();
        let mut rest = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "connection closed for {bytes:?}");
        assert!(rest.is_empty(), "no answer to a broken frame {bytes:?}");
    }
    let answer = tcp(server.tcp(), &query("alive.example.org.", RecordType::A)).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
}
