//! Expansion: snippet definitions, `import` of snippets, files and globs, and
//! `{$ENV}` substitution. An import pushes the tokens it stands for onto the parser's
//! stack, so the grammar (`parser.rs`) reads them in place of the import line.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use clusterdns_api::{ConfigError, Token};

use super::super::lexer::{self, Lexed, RawToken};
use super::{
    Env, Link, MAX_EXPANSIONS, Origin, Parser, Snippet, Source, Tok, describe, file_id, place,
};

impl Parser<'_> {
    /// Defines snippet `name` from the block after its key.
    ///
    /// The body is kept as tokens, imports and all, and only parsed where it is imported:
    /// a snippet may hold directive lines or whole server blocks.
    pub(super) fn define_snippet(&mut self, name: String, key: &Token) -> Result<(), ConfigError> {
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
    pub(super) fn import(&mut self, import: Tok) -> Result<(), ConfigError> {
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
}

/// The name of the snippet that `keys` define, if they are a single `(name)`.
pub(super) fn snippet_name(keys: &[Token]) -> Option<String> {
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
