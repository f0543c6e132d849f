//! Helpers for plugin unit tests (feature `testing`): read a directive written as in
//! a Corefile, and a setup context, without the server's parser.

use std::path::PathBuf;
use std::sync::Arc;

use crate::{Directive, Readiness, SetupCtx, Token};
use hickory_proto::rr::Name;

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
