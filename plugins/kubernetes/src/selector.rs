//! Kubernetes label selectors (`labels` and `namespace_labels`), in the string syntax
//! `kubectl -l` and CoreDNS accept: `a=b`, `a==b`, `a!=b`, `a in (x, y)`,
//! `a notin (x)`, `a`, `!a`, joined by commas (all must hold).
//!
//! The API source will hand the text to the API server; the manifest source matches
//! objects itself with [`Selector::matches`].

use std::collections::BTreeMap;
use std::fmt;

/// Why a label selector does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// Two commas in a row, or one at an end.
    #[error("empty requirement")]
    EmptyRequirement,
    /// A parenthesis without its partner.
    #[error("unbalanced '{0}'")]
    Unbalanced(char),
    /// `in` or `notin` without `(values)`.
    #[error("expected a list of values in parentheses after {0:?}")]
    ExpectedValues(String),
    /// An operator other than `=`, `==`, `!=`, `in`, `notin`.
    #[error("unknown operator {0:?}: expected =, ==, !=, in or notin")]
    UnknownOperator(String),
    /// A key that is not a label key.
    #[error("invalid label key {0:?}")]
    InvalidKey(String),
    /// A value that is not a label value.
    #[error("invalid label value {0:?}")]
    InvalidValue(String),
}

/// One requirement of a selector.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    text: String,
    requirements: Vec<Requirement>,
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Selector {
    /// Parses `text`, or explains what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        if text.trim().is_empty() {
            return Ok(Self {
                text: String::new(),
                requirements,
            });
        }
        for part in split_top_level(text)? {
            let part = part.trim();
            if part.is_empty() {
                return Err(SelectorError::EmptyRequirement);
            }
            requirements.push(requirement(part)?);
        }
        Ok(Self {
            text: text.trim().to_owned(),
            requirements,
        })
    }

    /// The selector as written, for the API server's `labelSelector` parameter.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether an object with `labels` is selected.
    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        let get = |key: &str| labels.and_then(|l| l.get(key));
        self.requirements.iter().all(|r| match r {
            Requirement::Equals(k, v) => get(k) == Some(v),
            Requirement::NotEquals(k, v) => get(k) != Some(v),
            Requirement::In(k, values) => get(k).is_some_and(|v| values.contains(v)),
            Requirement::NotIn(k, values) => get(k).is_none_or(|v| !values.contains(v)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::NotExists(k) => get(k).is_none(),
        })
    }
}

/// Splits on commas outside parentheses.
fn split_top_level(text: &str) -> Result<Vec<&str>, SelectorError> {
    let mut parts = Vec::new();
    let mut depth = 0u32;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth.checked_sub(1).ok_or(SelectorError::Unbalanced(')'))?;
            }
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(SelectorError::Unbalanced('('));
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn requirement(part: &str) -> Result<Requirement, SelectorError> {
    if let Some(key) = part.strip_prefix('!') {
        return Ok(Requirement::NotExists(key_of(key.trim())?));
    }
    if let Some((key, value)) = part.split_once("!=") {
        return Ok(Requirement::NotEquals(key_of(key)?, value_of(value)?));
    }
    if let Some((key, value)) = part.split_once("==") {
        return Ok(Requirement::Equals(key_of(key)?, value_of(value)?));
    }
    if let Some((key, value)) = part.split_once('=') {
        return Ok(Requirement::Equals(key_of(key)?, value_of(value)?));
    }
    let mut words = part.splitn(2, char::is_whitespace);
    let key = words.next().unwrap_or("");
    let Some(rest) = words.next().map(str::trim) else {
        return Ok(Requirement::Exists(key_of(key)?));
    };
    let (operator, list) = rest
        .split_once(char::is_whitespace)
        .unwrap_or_else(|| rest.split_at(rest.find('(').unwrap_or(rest.len())));
    let list = list.trim();
    let values = list
        .strip_prefix('(')
        .and_then(|l| l.strip_suffix(')'))
        .ok_or_else(|| SelectorError::ExpectedValues(operator.to_owned()))?
        .split(',')
        .map(value_of)
        .collect::<Result<Vec<_>, _>>()?;
    match operator {
        "in" => Ok(Requirement::In(key_of(key)?, values)),
        "notin" => Ok(Requirement::NotIn(key_of(key)?, values)),
        other => Err(SelectorError::UnknownOperator(other.to_owned())),
    }
}

/// A label key: an optional DNS-subdomain prefix and `/`, then a name of at most 63
/// characters of letters, digits, `-`, `_` and `.`, starting and ending alphanumeric.
fn key_of(text: &str) -> Result<String, SelectorError> {
    let key = text.trim();
    let name = key.rsplit_once('/').map_or(
        key,
        |(prefix, name)| {
            if prefix.is_empty() { "" } else { name }
        },
    );
    if !valid_name(name) || key.starts_with('/') {
        return Err(SelectorError::InvalidKey(key.to_owned()));
    }
    Ok(key.to_owned())
}

fn value_of(text: &str) -> Result<String, SelectorError> {
    let value = text.trim();
    if !value.is_empty() && !valid_name(value) {
        return Err(SelectorError::InvalidValue(value.to_owned()));
    }
    Ok(value.to_owned())
}

fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn matches_every_operator() {
        let l = labels(&[
            ("env", "prod"),
            ("tier", "web"),
            ("app.kubernetes.io/name", "x"),
        ]);
        let yes = |s: &str| Selector::parse(s).unwrap().matches(Some(&l));
        assert!(yes("env=prod"));
        assert!(yes("env==prod,tier=web"));
        assert!(!yes("env!=prod"));
        assert!(yes("env in (prod, qa)"));
        assert!(!yes("env notin (prod)"));
        assert!(yes("missing notin (a)"));
        assert!(yes("tier"));
        assert!(yes("!missing"));
        assert!(!yes("!tier"));
        assert!(yes("app.kubernetes.io/name=x"));
        assert!(yes(""));
        assert!(!Selector::parse("env=prod").unwrap().matches(None));
    }

    #[test]
    fn rejects_malformed_selectors() {
        let cases = [
            ("env in prod", SelectorError::ExpectedValues("in".into())),
            ("env=(", SelectorError::Unbalanced('(')),
            ("a)", SelectorError::Unbalanced(')')),
            (
                "env between (a)",
                SelectorError::UnknownOperator("between".into()),
            ),
            ("-bad=x", SelectorError::InvalidKey("-bad".into())),
            (
                "env=bad value",
                SelectorError::InvalidValue("bad value".into()),
            ),
            ("a,,b", SelectorError::EmptyRequirement),
        ];
        for (bad, want) in cases {
            assert_eq!(Selector::parse(bad), Err(want), "{bad}");
        }
    }
}
