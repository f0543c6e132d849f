//! Turns tokens into server blocks: the grammar of keys, blocks and directive lines.
//! Expanding snippets, imports and environment variables is `expand.rs`.
//!
//! The parser reads from a stack of token runs. The Corefile is the bottom run; `import`
//! pushes the snippet's or file's tokens on top, so they are read in place of the import
//! line, and the run below resumes once they are used up. Every pushed run remembers the
//! chain of imports that produced it, which is how a recursive import is caught, and two
//! tokens only share a line when they come from the same run, so that an imported first
//! line never joins the line before the import.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::vec;

use clusterdns_api::{ConfigError, Directive, Token};

use super::ServerBlock;
use super::lexer::{self, RawToken};

mod expand;

use expand::snippet_name;
pub(crate) use expand::substitute_env;

/// How many snippets and files one Corefile may import in all. Recursion is caught
/// before this; the cap stops snippets that import each other twice over from growing
/// exponentially.
const MAX_EXPANSIONS: usize = 10_000;

/// How deep blocks may nest. Far beyond any real Corefile; it keeps a malicious one from
/// overflowing the stack of the recursive parser.
const MAX_DEPTH: usize = 100;

/// Looks up an environment variable.
type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Parses a whole Corefile; see the module documentation of `corefile` for the grammar.
pub(crate) fn parse(
    text: &str,
    file_name: &str,
    base_dir: &Path,
    env: Env<'_>,
) -> Result<Vec<ServerBlock>, ConfigError> {
    let name: Arc<str> = Arc::from(file_name);
    let lexed = lexer::lex(text, &name)?;
    let source = Rc::new(Source {
        name: name.clone(),
        dir: base_dir.to_path_buf(),
    });
    // The Corefile is the root of every import chain, so importing it is recursion too.
    let own_path = base_dir.join(Path::new(file_name).file_name().unwrap_or_default());
    let root = Rc::new(Origin {
        chain: vec![Link {
            id: file_id(&own_path),
            label: file_name.to_owned(),
        }],
    });
    let mut parser = Parser {
        frames: Vec::new(),
        last: None,
        snippets: HashMap::new(),
        expansions: 0,
        depth: 0,
        end: End {
            file: name,
            line: lexed.end_line,
            column: lexed.end_column,
        },
        env,
    };
    parser.push(attach(lexed.tokens, &source, &root));
    parser.server_blocks()
}

/// A file tokens were read from: its name for errors, its directory for the imports in it.
#[derive(Debug)]
struct Source {
    name: Arc<str>,
    dir: PathBuf,
}

/// One step of an import chain.
#[derive(Clone, Debug)]
struct Link {
    /// What was imported, for comparison: `snippet:NAME` or `file:CANONICAL-PATH`.
    id: String,
    /// The same for people: the snippet name or the file path.
    label: String,
}

/// The chain of imports that produced a run of tokens, the Corefile first. Each
/// expansion has an `Origin` of its own, which also tells its lines from its neighbours'.
#[derive(Debug)]
struct Origin {
    chain: Vec<Link>,
}

/// A token on the stack: what was written, where, and which expansion produced it.
#[derive(Clone, Debug)]
struct Tok {
    raw: RawToken,
    source: Rc<Source>,
    origin: Rc<Origin>,
}

impl Tok {
    fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.source.name.clone(),
            line: self.raw.line,
            column: self.raw.column,
            message: message.into(),
        }
    }

    fn is_import(&self) -> bool {
        self.raw.text == "import"
    }
}

/// How an error names a token it did not expect: braces as `'{'`, words in quotes.
fn describe(raw: &RawToken) -> String {
    if raw.is_open_brace() || raw.is_close_brace() {
        format!("'{}'", raw.text)
    } else {
        format!("{:?}", raw.text)
    }
}

/// `line:column`, with the file in front when it is not `seen_from`, the file the error
/// is reported in.
fn place(file: &Arc<str>, line: u32, column: u32, seen_from: &str) -> String {
    if **file == *seen_from {
        format!("{line}:{column}")
    } else {
        format!("{file}:{line}:{column}")
    }
}

/// Gives lexed tokens their file and expansion.
fn attach(tokens: Vec<RawToken>, source: &Rc<Source>, origin: &Rc<Origin>) -> Vec<Tok> {
    tokens
        .into_iter()
        .map(|raw| Tok {
            raw,
            source: source.clone(),
            origin: origin.clone(),
        })
        .collect()
}

/// What identifies a file in import chains: its canonical path, so that `a.conf` and
/// `./a.conf` are the same file.
fn file_id(path: &Path) -> String {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    format!("file:{}", path.display())
}

/// A defined snippet: where (for "already defined" errors), and its tokens.
struct Snippet {
    key: Token,
    body: Vec<Tok>,
}

/// The end of the Corefile, where "got end of file" errors point.
struct End {
    file: Arc<str>,
    line: u32,
    column: u32,
}

struct Parser<'a> {
    /// The token runs still to read; the last one is read first. None is ever empty.
    frames: Vec<vec::IntoIter<Tok>>,
    /// The expansion and end line of the token read last, to tell whether the next one
    /// is on the same line.
    last: Option<(Rc<Origin>, u32)>,
    snippets: HashMap<String, Snippet>,
    expansions: usize,
    depth: usize,
    end: End,
    env: Env<'a>,
}

impl Parser<'_> {
    /// Reads the whole file: imports, snippet definitions and server blocks.
    fn server_blocks(&mut self) -> Result<Vec<ServerBlock>, ConfigError> {
        let mut blocks = Vec::new();
        loop {
            if let Some(import) = self.next_if(|_, t| t.is_import()) {
                self.import(import)?;
                continue;
            }
            if self.peek().is_none() {
                return Ok(blocks);
            }
            let keys = self.keys()?;
            if let Some(name) = snippet_name(&keys) {
                self.define_snippet(name, &keys[0])?;
                continue;
            }
            let directives = self.server_body(&keys, blocks.is_empty())?;
            blocks.push(ServerBlock { keys, directives });
        }
    }

    /// Reads the keys of a server block: the tokens of one line, and of the next ones
    /// while a key ends in `,`.
    fn keys(&mut self) -> Result<Vec<Token>, ConfigError> {
        let mut keys = Vec::new();
        let mut first: Option<Tok> = None;
        let mut after_comma = false;
        while self.another_key(first.is_some(), after_comma)? {
            let Some(tok) = self.next_tok() else {
                break;
            };
            let mut text = self.substitute(&tok.raw.text);
            after_comma = text.ends_with(',');
            if after_comma {
                text.pop();
            }
            if !text.is_empty() {
                keys.push(self.token_with_text(&tok, text));
            }
            first.get_or_insert(tok);
        }
        match first {
            Some(first) if keys.is_empty() => Err(first.error(format!(
                "server block key {} is empty",
                describe(&first.raw)
            ))),
            None => Err(self.expected("expected server block keys")),
            _ => Ok(keys),
        }
    }

    /// Whether the next token is one more key: the first, one on the same line, or one
    /// after a key that ended in `,`. A `{` ends the keys, and must follow at least one.
    fn another_key(&self, seen_one: bool, after_comma: bool) -> Result<bool, ConfigError> {
        const AFTER_COMMA: &str = "expected another server block key after ','";
        match self.peek() {
            None if after_comma => Err(self.eof_error(&format!("{AFTER_COMMA}, got end of file"))),
            None => Ok(false),
            Some(t) if t.raw.is_open_brace() => match (after_comma, seen_one) {
                (true, _) => Err(t.error(format!("{AFTER_COMMA}, got '{{'"))),
                (false, false) => Err(t.error("expected server block keys, got '{'")),
                (false, true) => Ok(false),
            },
            Some(t) if t.raw.is_close_brace() => Err(t.error("unexpected '}'")),
            Some(t) => Ok(!seen_one || after_comma || self.same_line(t)),
        }
    }

    /// Reads a server block's directives: up to the matching `}`, or, for the first
    /// block when it has no `{`, to the end of the file.
    fn server_body(
        &mut self,
        keys: &[Token],
        first_block: bool,
    ) -> Result<Vec<Directive>, ConfigError> {
        if let Some(open) = self.next_if(|_, t| t.raw.is_open_brace()) {
            return self.lines(Some(&open));
        }
        if first_block {
            return self.lines(None);
        }
        let keys: Vec<&str> = keys.iter().map(|k| k.text.as_str()).collect();
        let mut error = self.expected(&format!(
            "expected '{{' to open the server block for {:?}",
            keys.join(" ")
        ));
        error
            .message
            .push_str(" (only a file with a single server block may omit the braces)");
        Err(error)
    }

    /// Reads directive lines up to the `}` matching `opener`, or to the end of the file
    /// when there is no opener.
    fn lines(&mut self, opener: Option<&Tok>) -> Result<Vec<Directive>, ConfigError> {
        let mut lines = Vec::new();
        loop {
            let Some(tok) = self.next_tok() else {
                return match opener {
                    Some(open) => Err(self.unclosed(open)),
                    None => Ok(lines),
                };
            };
            if tok.raw.is_close_brace() {
                return match opener {
                    Some(_) => Ok(lines),
                    None => Err(tok.error("unexpected '}'")),
                };
            }
            if tok.is_import() {
                self.import(tok)?;
            } else {
                lines.push(self.directive(tok)?);
            }
        }
    }

    /// Reads one directive line, `name` already read: its arguments, and its block if a
    /// `{` opens one.
    fn directive(&mut self, name: Tok) -> Result<Directive, ConfigError> {
        if name.raw.is_open_brace() {
            return Err(
                name.error("unexpected '{': a block must open on the same line as its directive")
            );
        }
        let mut args = Vec::new();
        let mut block = None;
        while let Some(tok) = self.next_arg() {
            if tok.raw.is_open_brace() {
                block = Some(self.nested_block(&tok)?);
                self.expect_line_end()?;
                break;
            }
            args.push(self.token(&tok));
        }
        Ok(Directive {
            name: self.token(&name),
            args,
            block,
        })
    }

    /// Reads the lines of a directive's block, `open` already read.
    fn nested_block(&mut self, open: &Tok) -> Result<Vec<Directive>, ConfigError> {
        if self.depth >= MAX_DEPTH {
            return Err(open.error(format!("blocks nested more than {MAX_DEPTH} deep")));
        }
        self.depth += 1;
        let lines = self.lines(Some(open));
        self.depth -= 1;
        lines
    }

    /// After a directive's closing `}`, only a new line or another `}` may follow.
    fn expect_line_end(&self) -> Result<(), ConfigError> {
        match self.peek() {
            Some(t) if self.same_line(t) && !t.raw.is_close_brace() => Err(t.error(format!(
                "expected a new line after '}}', got {}",
                describe(&t.raw)
            ))),
            _ => Ok(()),
        }
    }

    /// Puts a run of tokens on top of the stack, to be read next.
    fn push(&mut self, tokens: Vec<Tok>) {
        if !tokens.is_empty() {
            self.frames.push(tokens.into_iter());
        }
    }

    /// The next token, without taking it.
    fn peek(&self) -> Option<&Tok> {
        self.frames.last().and_then(|f| f.as_slice().first())
    }

    /// Takes the next token.
    fn next_tok(&mut self) -> Option<Tok> {
        let frame = self.frames.last_mut()?;
        let tok = frame.next()?;
        if frame.as_slice().is_empty() {
            self.frames.pop();
        }
        self.last = Some((tok.origin.clone(), tok.raw.end_line));
        Some(tok)
    }

    /// Takes the next token if `wanted` says so.
    fn next_if(&mut self, wanted: impl FnOnce(&Self, &Tok) -> bool) -> Option<Tok> {
        let tok = self.peek()?;
        if wanted(self, tok) {
            self.next_tok()
        } else {
            None
        }
    }

    /// Takes the next token if it continues the current line and is not a closing brace.
    fn next_arg(&mut self) -> Option<Tok> {
        self.next_if(|p, t| p.same_line(t) && !t.raw.is_close_brace())
    }

    /// Whether `tok` starts on the line where the last token ended.
    fn same_line(&self, tok: &Tok) -> bool {
        self.last.as_ref().is_some_and(|(origin, end_line)| {
            Rc::ptr_eq(origin, &tok.origin) && *end_line == tok.raw.line
        })
    }

    /// The public token for `tok`, environment variables substituted.
    fn token(&self, tok: &Tok) -> Token {
        self.token_with_text(tok, self.substitute(&tok.raw.text))
    }

    fn token_with_text(&self, tok: &Tok, text: String) -> Token {
        Token {
            text,
            file: tok.source.name.clone(),
            line: tok.raw.line,
            column: tok.raw.column,
            quoted: tok.raw.quoted,
        }
    }

    fn substitute(&self, text: &str) -> String {
        substitute_env(text, self.env)
    }

    /// "`expected`, got X" at the next token, or at the end of the file.
    fn expected(&self, expected: &str) -> ConfigError {
        match self.peek() {
            Some(t) => t.error(format!("{expected}, got {}", describe(&t.raw))),
            None => self.eof_error(&format!("{expected}, got end of file")),
        }
    }

    /// The error for a block still open at the end of the file.
    fn unclosed(&self, open: &Tok) -> ConfigError {
        self.eof_error(&format!(
            "expected '}}' to close the block opened at {}, got end of file",
            place(
                &open.source.name,
                open.raw.line,
                open.raw.column,
                &self.end.file
            )
        ))
    }

    fn eof_error(&self, message: &str) -> ConfigError {
        ConfigError {
            file: self.end.file.clone(),
            line: self.end.line,
            column: self.end.column,
            message: message.to_owned(),
        }
    }
}
