//! Corefile tokens and directives, as plugins read them.
//!
//! The parser in the server turns a Corefile into server blocks of [`Directive`]s, with
//! snippets, imports and environment variables already expanded. Each plugin then reads
//! its own directive: its arguments, and the lines of its `{ }` block, which are
//! directives in turn. Every token remembers where it came from, so every error names
//! `file:line:column`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// One word of a Corefile, with where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// The text, with quotes removed and environment variables substituted.
    pub text: String,
    /// The file it was read from (the Corefile or an imported file).
    pub file: Arc<str>,
    /// 1-based line.
    pub line: u32,
    /// 1-based column of the token's first character.
    pub column: u32,
    /// Whether it was written in double quotes (a quoted `{` is not a brace).
    pub quoted: bool,
}

impl Token {
    /// A token not read from any file, for tests and defaults.
    pub fn synthetic(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            file: Arc::from("<builtin>"),
            line: 0,
            column: 0,
            quoted: false,
        }
    }

    /// An error at this token's position.
    pub fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            line: self.line,
            column: self.column,
            message: message.into(),
        }
    }

    /// Parses the token as a `T`, or explains that `what` was expected.
    pub fn parse<T: FromStr>(&self, what: &str) -> Result<T, ConfigError> {
        self.text
            .parse()
            .map_err(|_| self.error(format!("expected {what}, got {:?}", self.text)))
    }

    /// Parses the token as a Go-style duration (`5s`, `1m30s`, `500ms`).
    pub fn duration(&self) -> Result<Duration, ConfigError> {
        parse_duration(&self.text).ok_or_else(|| {
            self.error(format!(
                "expected a duration such as 5s or 1m30s, got {:?}",
                self.text
            ))
        })
    }
}

/// A directive line: a name, its arguments up to the end of the line, and an optional
/// `{ }` block whose lines are directives themselves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directive {
    /// The directive's name (`cache`, or a sub-option such as `success`).
    pub name: Token,
    /// The arguments on the same line.
    pub args: Vec<Token>,
    /// The lines of the `{ }` block, if the directive has one.
    pub block: Option<Vec<Directive>>,
}

impl Directive {
    /// The lines of the block (empty when there is none).
    pub fn block_lines(&self) -> &[Directive] {
        self.block.as_deref().unwrap_or(&[])
    }

    /// An error at the directive's name.
    pub fn error(&self, message: impl Into<String>) -> ConfigError {
        self.name
            .error(format!("{}: {}", self.name.text, message.into()))
    }

    /// Checks that the line has between `min` and `max` arguments.
    pub fn arg_count(&self, min: usize, max: usize) -> Result<(), ConfigError> {
        let n = self.args.len();
        if n < min {
            let at = self.args.last().unwrap_or(&self.name);
            let expected = if min == max {
                format!("{min}")
            } else {
                format!("at least {min}")
            };
            return Err(at.error(format!(
                "{}: wrong argument count: expected {expected}, got {n}",
                self.name.text
            )));
        }
        if n > max {
            let expected = if min == max {
                format!("{max}")
            } else {
                format!("at most {max}")
            };
            return Err(self.args[max].error(format!(
                "{}: wrong argument count: expected {expected}, got {n} (unexpected {:?})",
                self.name.text, self.args[max].text
            )));
        }
        Ok(())
    }

    /// Checks that the directive has no `{ }` block.
    pub fn no_block(&self) -> Result<(), ConfigError> {
        match self.block.as_deref() {
            Some([first, ..]) => Err(first.name.error(format!(
                "{}: takes no block, got {:?}",
                self.name.text, first.name.text
            ))),
            _ => Ok(()),
        }
    }

    /// Checks an option line: between `min` and `max` arguments and no `{ }` block.
    /// Every plugin reads its option lines through this (or [`flag`](Self::flag) and
    /// [`single`](Self::single)), so the same mistake reads the same everywhere.
    pub fn check_args(&self, min: usize, max: usize) -> Result<(), ConfigError> {
        self.arg_count(min, max)?;
        self.no_block()
    }

    /// Checks an option line that is a bare flag: no argument, no block.
    pub fn flag(&self) -> Result<(), ConfigError> {
        self.check_args(0, 0)
    }

    /// Checks an option line with exactly one argument and no block, and returns it.
    pub fn single(&self) -> Result<&Token, ConfigError> {
        self.check_args(1, 1)?;
        // `check_args` saw exactly one argument.
        self.args
            .first()
            .ok_or_else(|| self.error("expected 1 argument"))
    }

    /// An error for a block line this directive does not know.
    pub fn unknown_option(&self, option: &Directive) -> ConfigError {
        option.name.error(format!(
            "{}: unknown property {:?}",
            self.name.text, option.name.text
        ))
    }
}

/// A Corefile error: where, and what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file the offending token was read from.
    pub file: Arc<str>,
    /// 1-based line (0 when the error has no position).
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// What was wrong or expected.
    pub message: String,
}

impl ConfigError {
    /// An error about a whole file, with no position in it.
    pub fn in_file(file: &str, message: impl Into<String>) -> Self {
        Self {
            file: Arc::from(file),
            line: 0,
            column: 0,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}

/// Parses a Go `time.ParseDuration` string: a sequence of numbers (decimals allowed)
/// each followed by a unit out of `ns`, `us`, `µs`, `ms`, `s`, `m`, `h`. A bare `0` is
/// zero. Negative durations are not accepted: no Corefile option wants one.
pub fn parse_duration(text: &str) -> Option<Duration> {
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return None;
        }
        let value: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * seconds_per_unit;
    }
    if !total.is_finite() || total > 1e12 {
        return None;
    }
    Some(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_follow_go_syntax() {
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        for bad in ["", "5", "s", "5x", "-1s", "1s2", "1e3s"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn argument_count_errors_point_at_the_line() {
        let d = Directive {
            name: Token {
                text: "cache".into(),
                file: Arc::from("Corefile"),
                line: 3,
                column: 5,
                quoted: false,
            },
            args: vec![],
            block: None,
        };
        let err = d.arg_count(1, 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Corefile:3:5: cache: wrong argument count: expected 1, got 0"
        );
    }
}
