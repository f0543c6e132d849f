//! Turns tokens into server blocks, expanding snippets, imports and environment variables.
//!
//! The parser reads from a stack of token runs. The Corefile is the bottom run; `import`
//! pushes the snippet's or file's tokens on top, so they are read in place of the import
//! line, and the run below resumes once they are used up. Every pushed run remembers the
//! chain of imports that produced it, which is how a recursive import is caught, and two
//! tokens only share a line when they come from the same run, so that an imported first
//! line never joins the line before the import.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::vec;

use clusterdns_api::{ConfigError, Directive, Token};

use super::ServerBlock;
use super::lexer::{self, Lexed, RawToken};

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

    /// Defines snippet `name` from the block after its key.
    ///
    /// The body is kept as tokens, imports and all, and only parsed where it is imported:
    /// a snippet may hold directive lines or whole server blocks.
    fn define_snippet(&mut self, name: String, key: &Token) -> Result<(), ConfigError> {
        if name.is_empty() {
            return Err(key.error("snippet name is empty"));
        }
        if let Some(previous) = self.snippets.get(&name) {
            let at = &previous.key;
            return Err(key.error(format!(
                "snippet {name:?} is already defined at {}",
                place(&at.file, at.line, at.column, &key.file)
            )));
        }
        let Some(open) = self.next_if(|_, t| t.raw.is_open_brace()) else {
            return Err(self.expected(&format!("expected '{{' to open snippet {name:?}")));
        };
        let body = self.balanced_tokens(&open)?;
        let key = key.clone();
        self.snippets.insert(name, Snippet { key, body });
        Ok(())
    }

    /// Takes the tokens up to the `}` matching `open`, without interpreting them.
    fn balanced_tokens(&mut self, open: &Tok) -> Result<Vec<Tok>, ConfigError> {
        let mut body = Vec::new();
        let mut depth = 0usize;
        loop {
            let Some(tok) = self.next_tok() else {
                return Err(self.unclosed(open));
            };
            if tok.raw.is_close_brace() {
                if depth == 0 {
                    return Ok(body);
                }
                depth -= 1;
            } else if tok.raw.is_open_brace() {
                depth += 1;
            }
            body.push(tok);
        }
    }

    /// Expands an import line, `import` already read.
    fn import(&mut self, import: Tok) -> Result<(), ConfigError> {
        let (arg, name) = self.import_argument(&import)?;
        if let Some(snippet) = self.snippets.get(&name) {
            let body: Vec<_> = snippet
                .body
                .iter()
                .map(|t| (t.raw.clone(), t.source.clone()))
                .collect();
            let link = Link {
                id: format!("snippet:{name}"),
                label: name,
            };
            let frame = self.expansion(&import, link, body)?;
            self.push(frame);
            return Ok(());
        }
        check_pattern(&arg, &name)?;
        if name.contains(['*', '?']) {
            self.import_glob(&import, &name)
        } else {
            self.import_file(&import, &name)
        }
    }

    /// Reads the single argument of an import line, with environment variables
    /// substituted.
    fn import_argument(&mut self, import: &Tok) -> Result<(Tok, String), ConfigError> {
        const EXPECTED: &str = "import: expected a snippet name or file pattern";
        let Some(arg) = self.next_arg() else {
            let got = match self.peek() {
                Some(t) if self.same_line(t) => describe(&t.raw),
                _ => "end of line".to_owned(),
            };
            return Err(import.error(format!("{EXPECTED}, got {got}")));
        };
        if arg.raw.is_open_brace() {
            return Err(arg.error(format!("{EXPECTED}, got '{{'")));
        }
        if let Some(extra) = self.next_arg() {
            return Err(extra.error(format!(
                "import: expected one argument, got an extra {}",
                describe(&extra.raw)
            )));
        }
        let name = self.substitute(&arg.raw.text);
        if name.is_empty() {
            return Err(arg.error(format!(
                "import: the snippet name or file pattern {} is empty",
                describe(&arg.raw)
            )));
        }
        Ok((arg, name))
    }

    /// Imports one file, relative to the directory of the file holding the import.
    fn import_file(&mut self, import: &Tok, name: &str) -> Result<(), ConfigError> {
        let path = import.source.dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let frame = self.file_expansion(import, &path, &text)?;
                self.push(frame);
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                Err(import.error(format!("unknown snippet or file to import {name:?}")))
            }
            Err(e) => Err(import.error(format!("import: cannot read {}: {e}", path.display()))),
        }
    }

    /// Imports every file matching `pattern`, in name order; none is only a warning, so
    /// that an empty `conf.d/*` is no error.
    fn import_glob(&mut self, import: &Tok, pattern: &str) -> Result<(), ConfigError> {
        let paths = glob_files(import, pattern)?;
        if paths.is_empty() {
            tracing::warn!(
                "{}:{}:{}: import {pattern:?} matched no files",
                import.source.name,
                import.raw.line,
                import.raw.column
            );
            return Ok(());
        }
        let mut frames = Vec::with_capacity(paths.len());
        for path in &paths {
            let text = std::fs::read_to_string(path).map_err(|e| {
                import.error(format!("import: cannot read {}: {e}", path.display()))
            })?;
            frames.push(self.file_expansion(import, path, &text)?);
        }
        // The stack reads its top first, so the first file goes on last.
        for frame in frames.into_iter().rev() {
            self.push(frame);
        }
        Ok(())
    }

    /// Lexes an imported file into the tokens of a new expansion.
    ///
    /// Its braces must balance: a block opened in a file closes in that file, so an
    /// error about a missing or stray brace points into the file that has it.
    fn file_expansion(
        &mut self,
        import: &Tok,
        path: &Path,
        text: &str,
    ) -> Result<Vec<Tok>, ConfigError> {
        let name: Arc<str> = Arc::from(path.display().to_string());
        let lexed = lexer::lex(text, &name)?;
        check_balanced(&lexed, &name)?;
        let source = Rc::new(Source {
            name: name.clone(),
            dir: path.parent().unwrap_or(Path::new("")).to_path_buf(),
        });
        let link = Link {
            id: file_id(path),
            label: name.to_string(),
        };
        let tokens = lexed.tokens.into_iter().map(|raw| (raw, source.clone()));
        self.expansion(import, link, tokens.collect())
    }

    /// Makes `tokens` a new expansion imported by `import`, after checking that this is
    /// neither recursion nor one import too many.
    fn expansion(
        &mut self,
        import: &Tok,
        link: Link,
        tokens: Vec<(RawToken, Rc<Source>)>,
    ) -> Result<Vec<Tok>, ConfigError> {
        let chain = &import.origin.chain;
        if let Some(start) = chain.iter().position(|l| l.id == link.id) {
            let cycle: Vec<&str> = chain[start..]
                .iter()
                .chain([&link])
                .map(|l| l.label.as_str())
                .collect();
            return Err(import.error(format!(
                "recursive import of {:?}: {}",
                link.label,
                cycle.join(" -> ")
            )));
        }
        self.expansions += 1;
        if self.expansions > MAX_EXPANSIONS {
            return Err(import.error(format!(
                "import: too many imports (more than {MAX_EXPANSIONS} in all)"
            )));
        }
        let mut chain = chain.clone();
        chain.push(link);
        let origin = Rc::new(Origin { chain });
        Ok(tokens
            .into_iter()
            .map(|(raw, source)| Tok {
                raw,
                source,
                origin: origin.clone(),
            })
            .collect())
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

/// The name of the snippet that `keys` define, if they are a single `(name)`.
fn snippet_name(keys: &[Token]) -> Option<String> {
    match keys {
        [key] => key
            .text
            .strip_prefix('(')
            .and_then(|k| k.strip_suffix(')'))
            .map(str::to_owned),
        _ => None,
    }
}

/// Rejects the glob patterns CoreDNS rejects: more than one wildcard, or a `[` class.
fn check_pattern(arg: &Tok, pattern: &str) -> Result<(), ConfigError> {
    let wildcards = pattern.matches(['*', '?']).count();
    if wildcards > 1 {
        return Err(arg.error(format!(
            "import: pattern {pattern:?} has {wildcards} wildcards; only one '*' or '?' is allowed"
        )));
    }
    if pattern.contains('[') {
        return Err(arg.error(format!(
            "import: '[' is not allowed in import pattern {pattern:?}"
        )));
    }
    Ok(())
}

/// The files matching `pattern`, relative to the directory of the importing file, in
/// name order. Directories are skipped: `conf.d/*` means the files in `conf.d`.
fn glob_files(import: &Tok, pattern: &str) -> Result<Vec<PathBuf>, ConfigError> {
    // The directory is taken literally even if its name has glob characters.
    let dir = glob::Pattern::escape(&import.source.dir.to_string_lossy());
    let full = Path::new(&dir).join(pattern);
    let matches = glob::glob(&full.to_string_lossy())
        .map_err(|e| import.error(format!("import: invalid pattern {pattern:?}: {}", e.msg)))?;
    let mut paths = Vec::new();
    for entry in matches {
        let path = entry.map_err(|e| import.error(format!("import: {e}")))?;
        if !path.is_dir() {
            paths.push(path);
        }
    }
    Ok(paths)
}

/// Checks that the braces of an imported file balance.
fn check_balanced(lexed: &Lexed, file: &Arc<str>) -> Result<(), ConfigError> {
    let error = |line, column, message: String| ConfigError {
        file: file.clone(),
        line,
        column,
        message,
    };
    let mut open = Vec::new();
    for token in &lexed.tokens {
        if token.is_open_brace() {
            open.push(token);
        } else if token.is_close_brace() && open.pop().is_none() {
            return Err(error(token.line, token.column, "unexpected '}'".into()));
        }
    }
    match open.last() {
        Some(unclosed) => Err(error(
            lexed.end_line,
            lexed.end_column,
            format!(
                "expected '}}' to close the block opened at {}:{}, got end of file",
                unclosed.line, unclosed.column
            ),
        )),
        None => Ok(()),
    }
}

/// Replaces `{$NAME}` and `{%NAME%}` in `text` by the variable's value, or by nothing
/// when it is unset. Substituted values are not scanned again, and an opener without a
/// closer, or with an empty name, stays as written.
pub(crate) fn substitute_env(text: &str, env: Env<'_>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let close = match after.as_bytes().first() {
            Some(b'$') => "}",
            Some(b'%') => "%}",
            _ => "",
        };
        // `after[1..]` skips the `$` or `%`, when there is one.
        let name_len = match close {
            "" => None,
            _ => after[1..].find(close).filter(|&len| len > 0),
        };
        match name_len {
            Some(len) => {
                out.push_str(&rest[..start]);
                out.push_str(&env(&after[1..=len]).unwrap_or_default());
                rest = &after[1 + len + close.len()..];
            }
            None => {
                out.push_str(&rest[..=start]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}
