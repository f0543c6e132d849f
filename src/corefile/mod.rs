//! Reads a Corefile into server blocks of [`Directive`]s.
//!
//! The syntax is CoreDNS's, which is that of the caddyfile package CoreDNS is built on,
//! so existing Corefiles read the same way here:
//!
//! ```text
//! (common) {                      # a snippet: stored, not served
//!     errors
//!     cache 30
//! }
//!
//! cluster.local:53 in-addr.arpa:53,   # server block keys; a trailing ',' continues them
//!     ip6.arpa:53 {                    # on the next line
//!     import common                    # the snippet's lines, spliced in place
//!     health {                         # a directive with a block of sub-directives
//!         lameduck 5s
//!     }
//!     forward . {$UPSTREAM}            # environment variable, "" when unset
//!     import conf.d/*.conf             # the lines of every matching file
//! }
//! ```
//!
//! - **Tokens** are separated by whitespace. A `#` that starts a token comments out the
//!   rest of the line. A token that starts with `"` runs to the next unescaped `"`, may
//!   span lines, and only `\"` is an escape in it. `{` and `}` are braces only when they
//!   stand alone and unquoted (`a{` is a plain word, `"{"` a plain argument).
//! - **Server blocks**: the keys (addresses) on one line, then `{`, the directive lines,
//!   and `}`. A file holding a single server block may leave the braces out; everything
//!   after its keys line is then its directives.
//! - **Directives**: a line is a directive's name and its arguments. A `{` on the line
//!   opens its block, whose lines are directives in turn, to any depth, up to the
//!   matching `}`. Tokens after the `{` on the same line form the block's first line,
//!   so `health { lameduck 5s }` is a block of one line.
//! - **Snippets**: a block whose only key is `(name)` defines a snippet, which must come
//!   before its first use and may not be defined twice.
//! - **Imports**: `import NAME` on a line of its own, between server blocks or among
//!   directive lines, is replaced by the tokens of the snippet `NAME` or, when there is
//!   no such snippet, of the file `NAME`, relative to the directory of the file holding
//!   the import line. One `*` or `?` makes `NAME` a glob (a glob matching nothing imports
//!   nothing, with a warning); `[` is not allowed. Imported tokens keep their own file
//!   and line, so errors point into the imported file. Recursive imports are errors.
//! - **Environment variables**: `{$NAME}` and `{%NAME%}` anywhere in a key, directive
//!   name or argument are replaced by the variable's value, or by nothing when unset.
//!
//! Every error is a [`ConfigError`] naming `file:line:column` and what was expected there.

mod lexer;
mod parser;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

use std::path::Path;

use clusterdns_api::{ConfigError, Directive, Token};

/// One server block: the addresses it serves, and its directive lines in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerBlock {
    /// The keys, commas stripped and environment variables substituted (`.:53`,
    /// `cluster.local:53`, `dns://.`, ...), at least one.
    pub keys: Vec<Token>,
    /// The directive lines, with imports expanded.
    pub directives: Vec<Directive>,
}

/// Reads and parses the Corefile at `path`; imports are relative to its directory.
pub fn parse_file(path: &Path) -> Result<Vec<ServerBlock>, ConfigError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::in_file(&name, format!("cannot read the Corefile: {e}")))?;
    let base_dir = path.parent().unwrap_or(Path::new(""));
    parse_str(&text, &name, base_dir)
}

/// Parses Corefile `text`, naming `file_name` in errors and resolving imports relative
/// to `base_dir`, with environment variables read from the process environment.
pub fn parse_str(
    text: &str,
    file_name: &str,
    base_dir: &Path,
) -> Result<Vec<ServerBlock>, ConfigError> {
    parse_str_with_env(text, file_name, base_dir, &process_env)
}

/// Like [`parse_str`], with environment variables looked up through `env`, so that
/// tests (and callers with their own variables) need not touch the process environment.
pub fn parse_str_with_env(
    text: &str,
    file_name: &str,
    base_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<ServerBlock>, ConfigError> {
    parser::parse(text, file_name, base_dir, env)
}

/// The process environment; a variable that is not valid Unicode counts as unset.
fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}
