//! Helpers for plugin unit tests (feature `testing`): read a directive written as in
//! a Corefile, a setup context without the server's parser, a temporary directory, a
//! stand-in for the rest of the chain, and records printed as one line each.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{
    BoxFuture, Ctx, Directive, Next, Plugin, PluginError, Protocol, Readiness, Response, SetupCtx,
    Token,
};
use hickory_proto::op::{Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// Reads one directive written as in a Corefile (`name args... {` newline, block lines,
/// `}`), with real line and column numbers in file `Corefile`.
pub fn directive(text: &str) -> Directive {
    let mut lines = text.lines().enumerate().map(|(i, line)| tokens(i, line));
    let mut head = lines.next().unwrap_or_default();
    let has_block = head.last().is_some_and(|t| t.text == "{");
    if has_block {
        head.pop();
    }
    let block = has_block.then(|| {
        lines
            .filter(|line| !line.is_empty() && line[0].text != "}")
            .map(|mut line| Directive {
                name: line.remove(0),
                args: line,
                block: None,
            })
            .collect()
    });
    Directive {
        name: head.remove(0),
        args: head,
        block,
    }
}

fn tokens(index: usize, line: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line
        .char_indices()
        .chain(std::iter::once((line.len(), ' ')))
    {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                out.push(Token {
                    text: line[s..i].to_owned(),
                    file: Arc::from("Corefile"),
                    line: u32::try_from(index + 1).unwrap_or(u32::MAX),
                    column: u32::try_from(s + 1).unwrap_or(u32::MAX),
                    quoted: false,
                });
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// A setup context for a root-zone block on port 53.
pub fn setup_ctx() -> SetupCtx {
    SetupCtx::new(
        vec![Name::root()],
        53,
        PathBuf::from("/corefile-dir"),
        Readiness::new(),
    )
}

/// A fresh directory under the system's temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new directory whose name contains `tag` (for finding it while debugging).
    pub fn new(tag: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = format!(
            "clusterdns-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let path = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        Self(path)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `content` to `name` in the directory and returns its path.
    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, content).expect("write a file in the temporary directory");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How a [`NextStub`] answers.
type StubAnswer = Box<dyn Fn(&Ctx) -> Response + Send + Sync>;

/// The rest of the chain after the plugin under test: answers every query through a
/// function, as the plugin `next` (REFUSED with [`NextStub::refusing`]).
pub struct NextStub {
    answer: StubAnswer,
}

impl NextStub {
    /// Answers everything REFUSED.
    pub fn refusing() -> Self {
        Self::new(|ctx| Response::new(ctx, "next", ResponseCode::Refused))
    }

    /// Answers through `answer`.
    pub fn new(answer: impl Fn(&Ctx) -> Response + Send + Sync + 'static) -> Self {
        Self {
            answer: Box::new(answer),
        }
    }
}

impl Plugin for NextStub {
    fn name(&self) -> &'static str {
        "next"
    }

    fn serve<'a>(
        &'a self,
        ctx: &'a mut Ctx,
        _next: Next<'a>,
    ) -> BoxFuture<'a, Result<Response, PluginError>> {
        let response = (self.answer)(ctx);
        Box::pin(async move { Ok(response) })
    }
}

/// Runs `plugin`, followed by `next`, on a query for `name`/`qtype` from
/// 10.0.0.99:5353 over UDP.
pub async fn ask(
    plugin: Arc<dyn Plugin>,
    next: NextStub,
    name: &str,
    qtype: RecordType,
) -> Result<Response, PluginError> {
    let chain: Vec<Arc<dyn Plugin>> = vec![plugin, Arc::new(next)];
    let query = Query::query(
        Name::from_ascii(name).unwrap_or_else(|_| Name::root()),
        qtype,
    );
    let mut ctx = Ctx::new(
        query,
        std::net::SocketAddr::from(([10, 0, 0, 99], 5353)),
        Protocol::Udp,
    );
    Next::new(&chain).run(&mut ctx).await
}

/// One record as `owner ttl TYPE rdata`, an SOA's serial as `*` (it is the time of the
/// last change).
pub fn record_line(record: &Record) -> String {
    let data = match &record.data {
        RData::SOA(soa) => format!(
            "{} {} * {} {} {} {}",
            soa.mname, soa.rname, soa.refresh, soa.retry, soa.expire, soa.minimum
        ),
        other => other.to_string(),
    };
    format!(
        "{} {} {} {}",
        record.name,
        record.ttl,
        record.record_type(),
        data
    )
}
