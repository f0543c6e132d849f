//! Regular expressions written in a Corefile (`errors consolidate`, `rewrite`,
//! `template`), bounded in one place: a pattern is configuration an operator may get
//! wrong, and compiling it must fail with an error, never exhaust the stack (deep
//! nesting, on a reload's small-stacked runtime thread) or memory.

use regex::{Regex, RegexBuilder};

/// The longest pattern accepted, in bytes.
pub const MAX_PATTERN_LEN: usize = 10_000;
/// How deeply a pattern may nest groups and repetitions (`a+++…+` is an error).
pub const MAX_PATTERN_NESTING: u32 = 32;
/// The most memory a compiled pattern may take.
pub const MAX_PATTERN_SIZE: usize = 1 << 20;

/// Why a pattern was refused; each plugin words the error its own way.
#[derive(Debug)]
pub enum PatternError {
    /// Longer than [`MAX_PATTERN_LEN`]; the pattern's length.
    TooLong(usize),
    /// Not a valid or not an acceptably small regular expression.
    Invalid(regex::Error),
}

/// `text` compiled within the bounds above.
pub fn bounded_regex(text: &str) -> Result<Regex, PatternError> {
    if text.len() > MAX_PATTERN_LEN {
        return Err(PatternError::TooLong(text.len()));
    }
    RegexBuilder::new(text)
        .nest_limit(MAX_PATTERN_NESTING)
        .size_limit(MAX_PATTERN_SIZE)
        .build()
        .map_err(PatternError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_beyond_the_bounds_are_errors_not_crashes() {
        assert!(bounded_regex(r"^(.*)\.example\.$").is_ok());
        let long = "a".repeat(MAX_PATTERN_LEN + 1);
        assert!(matches!(bounded_regex(&long), Err(PatternError::TooLong(n)) if n == long.len()));
        let nested = format!("{}a{}", "(".repeat(200), ")".repeat(200));
        assert!(matches!(
            bounded_regex(&nested),
            Err(PatternError::Invalid(_))
        ));
        let huge = r"\w{1000}\w{1000}\w{1000}";
        assert!(matches!(bounded_regex(huge), Err(PatternError::Invalid(_))));
    }
}
