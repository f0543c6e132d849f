//! How much structure one manifest file may hold, checked before it is decoded.
//!
//! The size limit alone does not bound memory or time:
//!
//! - a YAML alias (`*a`) repeats its anchor's whole subtree, so a few kilobytes of
//!   anchors and aliases expand to millions of values (an "alias bomb"; the YAML
//!   reader's own repetition limit stops the deepest ones but allows a quadratic
//!   blow-up). So the text is walked once without keeping anything, aliases expanded
//!   as the decoder would expand them, counting values; a file with more than
//!   [`values_allowed`] is refused before a single value is built, and the walk stops
//!   at the first value over the budget, so a bomb costs no more than the budget.
//! - the YAML reader's time grows with the square of the depth of nested flow
//!   collections (`[[[[...`): a few megabytes of brackets would hold the poller for
//!   hours. So that depth is measured on the text itself, without the reader, first.

use std::cell::Cell;
use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};

/// Values (scalars, lists and maps, aliases expanded) one file may hold at most: about
/// 40,000 objects as `kubectl get -o yaml` prints them, managed fields included.
pub const MAX_VALUES: usize = 4_000_000;
/// How deep lists and maps may nest. Kubernetes objects nest about 10 deep; a `List`
/// adds 2.
pub const MAX_DEPTH: usize = 64;

/// The values a file of `len` bytes may hold: without aliases a value takes at least
/// one byte (`[1,1]` is 3 values in 5 bytes, `{a,b}` 5 in 5), so twice the length,
/// plus room for the aliases people write by hand, and never more than [`MAX_VALUES`].
pub fn values_allowed(len: usize) -> usize {
    len.saturating_mul(2)
        .saturating_add(100_000)
        .min(MAX_VALUES)
}

/// A file over a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TooBig {
    /// More values than [`values_allowed`], aliases expanded.
    #[error("{0} values or more (YAML aliases expanded), over the limit for a file of its size")]
    Values(usize),
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("lists and maps nested more than {MAX_DEPTH} deep")]
    Depth,
}

/// Checks `text` against the limits, reading it as JSON when `json` (as the decoder
/// does: by extension or because it starts with `{` or `[`), as YAML otherwise.
///
/// Only the limits are judged here: text that is not valid YAML or JSON passes, and
/// the decoder then reports where it is wrong.
pub fn check(text: &str, json: bool) -> Result<(), TooBig> {
    check_within(text, json, values_allowed(text.len()), MAX_DEPTH)
}

fn check_within(text: &str, json: bool, values: usize, depth: usize) -> Result<(), TooBig> {
    let budget = Budget {
        values_left: Cell::new(values),
        max_values: values,
        max_depth: depth,
        exceeded: Cell::new(None),
    };
    let trimmed = text.trim_start();
    if json || trimmed.starts_with('{') || trimmed.starts_with('[') {
        let mut reader = serde_json::Deserializer::from_str(text);
        let _ = budget.walker(0).deserialize(&mut reader);
    } else {
        if flow_depth_over(text, depth) {
            return Err(TooBig::Depth);
        }
        // The walk accepts any value, so an error is a limit or broken YAML (which the
        // reader may report again for every later document): either way, stop.
        for document in serde_norway::Deserializer::from_str(text) {
            if budget.walker(0).deserialize(document).is_err() {
                break;
            }
        }
    }
    budget.exceeded.get().map_or(Ok(()), Err)
}

/// Whether YAML `text` nests flow collections (`[...]`, `{...}`) deeper than `limit`,
/// judged from the characters alone. A bracket counts where YAML reads one as the
/// start of a collection: inside another, or where a value starts (a line's start,
/// after `:`, `-`, `?` or `,`); quoted scalars and comments are skipped. Brackets in
/// block scalars (`|`) at a line's start count too, which errs towards refusing only
/// text nested more than `limit` deep anyway.
fn flow_depth_over(text: &str, limit: usize) -> bool {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    // The last byte that was not a space on this line; `\n` at a line's start.
    let mut last = b'\n';
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        let value_start = depth > 0 && matches!(last, b'[' | b'{' | b',' | b':')
            || matches!(last, b'\n' | b':' | b'-' | b'?' | b',');
        match byte {
            b'\n' => last = b'\n',
            b' ' | b'\t' | b'\r' => {}
            b'#' if i == 0 || matches!(bytes[i - 1], b' ' | b'\t' | b'\n') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' | b'\'' if value_start => {
                i += 1;
                while i < bytes.len() && bytes[i] != byte {
                    i += if byte == b'"' && bytes[i] == b'\\' {
                        2
                    } else {
                        1
                    };
                }
                last = byte;
            }
            b'[' | b'{' if value_start || depth > 0 => {
                depth += 1;
                if depth > limit {
                    return true;
                }
                last = byte;
            }
            b']' | b'}' if depth > 0 => {
                depth -= 1;
                last = byte;
            }
            _ => last = byte,
        }
        i += 1;
    }
    false
}

/// Values left to see, and which limit was passed.
struct Budget {
    values_left: Cell<usize>,
    max_values: usize,
    max_depth: usize,
    exceeded: Cell<Option<TooBig>>,
}

impl Budget {
    fn walker(&self, depth: usize) -> Walk<'_> {
        Walk {
            budget: self,
            depth,
        }
    }

    /// Counts one value at `depth`; an error (which stops the reader) past a limit.
    fn count<E: de::Error>(&self, depth: usize) -> Result<(), E> {
        let over = if depth > self.max_depth {
            Some(TooBig::Depth)
        } else if let Some(left) = self.values_left.get().checked_sub(1) {
            self.values_left.set(left);
            None
        } else {
            Some(TooBig::Values(self.max_values))
        };
        match over {
            Some(over) => {
                self.exceeded.set(Some(over));
                Err(E::custom(over))
            }
            None => Ok(()),
        }
    }
}

/// Walks one value and everything in it, keeping nothing.
#[derive(Clone, Copy)]
struct Walk<'a> {
    budget: &'a Budget,
    depth: usize,
}

impl Walk<'_> {
    fn inner(self) -> Self {
        Self {
            budget: self.budget,
            depth: self.depth + 1,
        }
    }

    fn leaf<E: de::Error>(self) -> Result<(), E> {
        self.budget.count(self.depth)
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.leaf()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.leaf()
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        self.leaf()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.leaf()
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        self.leaf()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.leaf()
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.leaf()
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<(), E> {
        self.leaf()
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.leaf()
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.leaf()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.leaf()?;
        deserializer.deserialize_any(self)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.leaf()?;
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.leaf()?;
        while seq.next_element_seed(self.inner())?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.leaf()?;
        while map.next_key_seed(self.inner())?.is_some() {
            map.next_value_seed(self.inner())?;
        }
        Ok(())
    }

    /// A YAML value with a tag (`!Thing value`).
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        self.leaf()?;
        let ((), variant) = data.variant_seed(self.inner())?;
        variant.newtype_variant_seed(self.inner())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn ordinary_manifests_pass() {
        for text in [
            crate::test_support::F0,
            crate::test_support::F1,
            include_str!("../../../../../deploy/demo/cluster.yaml"),
            "",
            "---\n---\n",
            "kind: [unclosed",
        ] {
            assert_eq!(check(text, false), Ok(()), "{text}");
        }
        // Brackets in quoted and plain scalars and in comments do not nest.
        let brackets = "a: \"[[[[\"\nb: '{{{{'\n# [[[[[\nc: x[[[[\nd: [[1]]\n";
        assert!(!flow_depth_over(brackets, 2));
        assert!(flow_depth_over(brackets, 1));
        assert_eq!(check(crate::test_support::F2, true), Ok(()));
        assert_eq!(check("{\"a\": [1, 2, {\"b\": null}]}", false), Ok(()));
        assert_eq!(check("not json", true), Ok(()));
    }

    pub(crate) fn deep_alias_bomb() -> String {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..10 {
            let previous = format!("*a{}", level - 1);
            let items = [previous.as_str(); 10].join(", ");
            text.push_str(&format!("a{level}: &a{level} [{items}]\n"));
        }
        text
    }

    /// One wide anchor repeated by many aliases: 9,000,000 values from 24 kB, under
    /// the reader's repetition limit (100 repetitions per event).
    pub(crate) fn wide_alias_bomb() -> String {
        let wide = vec!["x"; 3_000].join(", ");
        let aliases = vec!["*w"; 3_000].join(", ");
        format!("w: &w [{wide}]\nmany: [{aliases}]\n")
    }

    /// Nine levels of ten aliases each, 10^9 values from a few hundred bytes: refused
    /// by the budget (and by the YAML reader's own repetition limit).
    #[test]
    fn a_deep_alias_bomb_is_refused() {
        let text = deep_alias_bomb();
        assert!(text.len() < 1_000);
        assert_eq!(
            check(&text, false),
            Err(TooBig::Values(100_000 + 2 * text.len()))
        );
        let error = serde_norway::from_str::<serde_json::Value>(&text).unwrap_err();
        assert!(error.to_string().contains("repetition limit"), "{error}");
    }

    #[test]
    fn a_wide_anchor_repeated_is_refused() {
        let text = wide_alias_bomb();
        assert!(text.len() < 25_000);
        assert_eq!(
            check(&text, false),
            Err(TooBig::Values(values_allowed(text.len())))
        );
        // The reader alone would build all 9,000,000 values.
        // The same with a few repetitions is fine.
        let wide = vec!["x"; 3_000].join(", ");
        let aliases = ["*w"; 10].join(", ");
        let text = format!("w: &w [{wide}]\nmany: [{aliases}]\n");
        assert_eq!(check(&text, false), Ok(()));
    }

    #[test]
    fn the_budget_grows_with_the_size_up_to_a_cap() {
        assert_eq!(values_allowed(0), 100_000);
        assert_eq!(values_allowed(1_000), 102_000);
        assert_eq!(values_allowed(64 << 20), MAX_VALUES);
        // Without aliases a file never comes near its budget.
        let wide = format!("[{}]", vec!["{a,b}"; 20_000].join(","));
        assert_eq!(check_within(&wide, false, wide.len(), MAX_DEPTH), Ok(()));
    }

    #[test]
    fn deep_nesting_is_refused_in_yaml_and_json() {
        let deep = |n| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert_eq!(check(&deep(MAX_DEPTH), true), Ok(()));
        assert_eq!(check(&deep(MAX_DEPTH + 2), true), Err(TooBig::Depth));
        assert_eq!(check(&deep(MAX_DEPTH), false), Ok(()));
        assert_eq!(
            check(&format!("a: {}", deep(MAX_DEPTH + 1)), false),
            Err(TooBig::Depth)
        );
        assert_eq!(
            check(&format!("a:\n- - {}", deep(MAX_DEPTH)), false),
            Err(TooBig::Depth)
        );
        let mut yaml = String::new();
        for level in 0..MAX_DEPTH + 2 {
            yaml.push_str(&" ".repeat(level * 2));
            yaml.push_str("k:\n");
        }
        assert_eq!(check(&yaml, false), Err(TooBig::Depth));
        // Far deeper than the readers' own recursion limits: refused at once.
        let started = std::time::Instant::now();
        assert_eq!(check(&deep(1_000_000), true), Err(TooBig::Depth));
        assert_eq!(
            check(&format!("a: {}", deep(1_000_000)), false),
            Err(TooBig::Depth)
        );
        assert_eq!(
            check(&format!("a: {}", "{a: ".repeat(1_000_000)), false),
            Err(TooBig::Depth)
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }

    /// Each document alone is within the budget; together they are not.
    #[test]
    fn the_value_budget_spans_documents() {
        let wide = vec!["x"; 2_000].join(", ");
        let aliases = vec!["*w"; 40].join(", ");
        let document = format!("w: &w [{wide}]\nm: [{aliases}]\n");
        assert_eq!(check(&document, false), Ok(()));
        let two = format!("{document}---\n{document}");
        assert!(matches!(check(&two, false), Err(TooBig::Values(_))));
    }
}
