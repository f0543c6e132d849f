//! Splits Corefile text into tokens.
//!
//! The rules are those of the caddyfile lexer that CoreDNS uses, so existing Corefiles
//! split the same way: whitespace separates tokens, a `#` that starts a token comments out
//! the rest of the line, and a token that starts with `"` runs to the next unescaped `"`,
//! across lines if need be. Braces mean nothing here: `{` and `}` are tokens like any
//! other, and the parser decides what they do. Every token remembers where it started,
//! so that every later error can point at it.

use std::iter::{Filter, Peekable};
use std::str::Chars;
use std::sync::Arc;

use clusterdns_api::ConfigError;

/// A token as written, before the parser gives it a meaning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RawToken {
    /// The text, with the quotes of a quoted token removed and `\"` unescaped.
    pub(crate) text: String,
    /// 1-based line of the first character.
    pub(crate) line: u32,
    /// 1-based column of the first character (the opening quote of a quoted token).
    pub(crate) column: u32,
    /// The line of the last character. A quoted token may span lines, and the token after
    /// it continues the same directive line only if it starts on the line this one ends.
    pub(crate) end_line: u32,
    /// Whether the token was written in double quotes: a quoted `{` is not a brace.
    pub(crate) quoted: bool,
}

impl RawToken {
    /// Whether this is a `{` that opens a block.
    pub(crate) fn is_open_brace(&self) -> bool {
        !self.quoted && self.text == "{"
    }

    /// Whether this is a `}` that closes a block.
    pub(crate) fn is_close_brace(&self) -> bool {
        !self.quoted && self.text == "}"
    }
}

/// The tokens of one file, and where the file ends, for "got end of file" errors.
#[derive(Debug)]
pub(crate) struct Lexed {
    pub(crate) tokens: Vec<RawToken>,
    /// The line just past the last character.
    pub(crate) end_line: u32,
    /// The column just past the last character.
    pub(crate) end_column: u32,
}

/// Splits `text`, read from `file`, into tokens.
///
/// Fails only on a quoted token that is never closed: everything else is a valid token
/// stream, and whether it makes sense is the parser's business.
pub(crate) fn lex(text: &str, file: &Arc<str>) -> Result<Lexed, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut cursor = Cursor::new(text);
    let mut tokens = Vec::new();
    while let Some(first) = cursor.skip_whitespace() {
        match first {
            '#' => cursor.skip_line(),
            '"' => tokens.push(quoted(&mut cursor, file)?),
            _ => tokens.push(bare(&mut cursor)),
        }
    }
    Ok(Lexed {
        tokens,
        end_line: cursor.line,
        end_column: cursor.column,
    })
}

/// Reads a token that is not quoted: everything up to the next whitespace.
fn bare(cursor: &mut Cursor<'_>) -> RawToken {
    let (line, column) = (cursor.line, cursor.column);
    let mut text = String::new();
    while let Some(c) = cursor.peek().filter(|c| !c.is_whitespace()) {
        text.push(c);
        cursor.bump();
    }
    RawToken {
        text,
        line,
        column,
        end_line: line,
        quoted: false,
    }
}

/// Reads a quoted token, the cursor being on its opening quote.
///
/// Only `\"` is an escape: any other backslash is kept as written, with the character
/// after it, so Windows paths and regular expressions need no doubling. That the
/// character after a backslash is always taken is also why `"a\\"` ends at its last quote.
fn quoted(cursor: &mut Cursor<'_>, file: &Arc<str>) -> Result<RawToken, ConfigError> {
    let (line, column) = (cursor.line, cursor.column);
    let unterminated = || ConfigError {
        file: file.clone(),
        line,
        column,
        message: "unterminated quoted string: expected a closing '\"', got end of file".into(),
    };
    cursor.bump();
    let mut text = String::new();
    loop {
        match cursor.bump().ok_or_else(unterminated)? {
            '"' => break,
            '\\' => match cursor.bump().ok_or_else(unterminated)? {
                '"' => text.push('"'),
                other => {
                    text.push('\\');
                    text.push(other);
                }
            },
            c => text.push(c),
        }
    }
    Ok(RawToken {
        text,
        line,
        column,
        end_line: cursor.line,
        quoted: true,
    })
}

/// The characters of a text, carriage returns left out.
type WithoutCr<'a> = Filter<Chars<'a>, fn(&char) -> bool>;

/// The characters of a file with their positions.
///
/// Carriage returns are dropped before anything sees them, so a file with Windows line
/// endings lexes, and counts columns, exactly like one with Unix line endings.
struct Cursor<'a> {
    chars: Peekable<WithoutCr<'a>>,
    line: u32,
    column: u32,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        let not_cr: fn(&char) -> bool = |c| *c != '\r';
        Self {
            chars: text.chars().filter(not_cr).peekable(),
            line: 1,
            column: 1,
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    /// Takes one character, keeping the position up to date.
    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    /// Skips whitespace, and returns the character after it without taking it.
    fn skip_whitespace(&mut self) -> Option<char> {
        while self.peek()?.is_whitespace() {
            self.bump();
        }
        self.peek()
    }

    /// Skips to the end of the line, leaving the newline to count as whitespace.
    fn skip_line(&mut self) {
        while self.peek().is_some_and(|c| c != '\n') {
            self.bump();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn lex_ok(text: &str) -> Lexed {
        match lex(text, &Arc::from("Corefile")) {
            Ok(lexed) => lexed,
            Err(e) => panic!("{e}"),
        }
    }

    /// Each token as `text@line:column`, quoted ones in quotes, for compact assertions.
    fn summary(text: &str) -> Vec<String> {
        lex_ok(text)
            .tokens
            .iter()
            .map(|t| {
                if t.quoted {
                    format!("{:?}@{}:{}", t.text, t.line, t.column)
                } else {
                    format!("{}@{}:{}", t.text, t.line, t.column)
                }
            })
            .collect()
    }

    #[test]
    fn splits_on_whitespace_and_records_positions() {
        assert_eq!(
            summary(".:53 {\n    errors\n\tlog  stdout\n}\n"),
            [
                ".:53@1:1",
                "{@1:6",
                "errors@2:5",
                "log@3:2",
                "stdout@3:7",
                "}@4:1"
            ]
        );
    }

    #[test]
    fn braces_must_be_separated_to_be_tokens_of_their_own() {
        assert_eq!(summary("a{ }b {}"), ["a{@1:1", "}b@1:4", "{}@1:7"]);
    }

    #[test]
    fn comments_start_only_at_the_start_of_a_token() {
        assert_eq!(
            summary("# heading {\nlog a#b # trailing }\n  #x\nnext"),
            ["log@2:1", "a#b@2:5", "next@4:1"]
        );
    }

    #[test]
    fn quoted_tokens_keep_spaces_and_unescape_only_quotes() {
        let lexed = lex_ok(r#"a "b c" "say \"hi\"" "C:\dir\\" "" "{""#);
        let texts: Vec<_> = lexed.tokens.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(texts, ["a", "b c", "say \"hi\"", r"C:\dir\\", "", "{"]);
        let quoted: Vec<_> = lexed.tokens.iter().map(|t| t.quoted).collect();
        assert_eq!(quoted, [false, true, true, true, true, true]);
        assert!(!lexed.tokens[5].is_open_brace());
    }

    #[test]
    fn quoted_tokens_may_span_lines() {
        let lexed = lex_ok("x \"one\ntwo\" y\nz");
        let t = &lexed.tokens[1];
        assert_eq!(
            (t.text.as_str(), t.line, t.column, t.end_line),
            ("one\ntwo", 1, 3, 2)
        );
        assert_eq!((lexed.tokens[2].line, lexed.tokens[2].column), (2, 6));
        assert_eq!((lexed.tokens[3].line, lexed.tokens[3].column), (3, 1));
    }

    #[test]
    fn a_quote_inside_a_token_is_literal_and_a_closing_quote_ends_the_token() {
        assert_eq!(
            summary(r#"a"b" "c"d"#),
            [r#"a"b"@1:1"#, r#""c"@1:6"#, "d@1:9"]
        );
    }

    #[test]
    fn carriage_returns_and_a_byte_order_mark_are_ignored() {
        assert_eq!(
            summary("\u{feff}.:53 {\r\n  errors\r\n}\r\n"),
            [".:53@1:1", "{@1:6", "errors@2:3", "}@3:1"]
        );
        let lexed = lex_ok("\"a\r\nb\"");
        assert_eq!(lexed.tokens[0].text, "a\nb");
    }

    #[test]
    fn end_position_is_just_past_the_last_character() {
        let lexed = lex_ok("a {\n}\n");
        assert_eq!((lexed.end_line, lexed.end_column), (3, 1));
        let lexed = lex_ok("a {\n  }");
        assert_eq!((lexed.end_line, lexed.end_column), (2, 4));
        let lexed = lex_ok("");
        assert!(lexed.tokens.is_empty());
        assert_eq!((lexed.end_line, lexed.end_column), (1, 1));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        assert_eq!(summary("é ü x"), ["é@1:1", "ü@1:3", "x@1:5"]);
    }

    #[test]
    fn unterminated_quote_is_an_error_at_the_quote() {
        let err = lex("a {\n  log \"abc\n}\n", &Arc::from("Corefile")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Corefile:2:7: unterminated quoted string: expected a closing '\"', got end of file"
        );
        let err = lex("\"abc\\", &Arc::from("x")).unwrap_err();
        assert_eq!((err.line, err.column), (1, 1));
    }
}
