//! The `rewrite` plugin: rewrites the question before the rest of the chain answers
//! it, and maps the answer back, as CoreDNS's `rewrite` does. See the crate's README.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod edns0;
mod plugin;
mod rules;

use std::sync::Arc;

use clusterdns_api::{ConfigError, Directive, Plugin, SetupCtx, Token};

pub use plugin::Rewrite;

/// Builds the plugin from all `rewrite` lines of a block, which the server hands over
/// as one directive whose block holds every line (a `stop` ends the rules of all
/// lines). A line with fewer than two words takes its rule from its `{ }` block, as
/// `rewrite stop { name regex ... ; answer name ... }` does.
pub fn setup(
    directive: &Directive,
    _ctx: &mut SetupCtx,
) -> Result<Option<Arc<dyn Plugin>>, ConfigError> {
    let lines: Vec<&Directive> = match &directive.block {
        Some(lines)
            if directive.args.is_empty() && lines.iter().all(|l| l.name.text == "rewrite") =>
        {
            lines.iter().collect()
        }
        _ => vec![directive],
    };
    let mut rules = Vec::with_capacity(lines.len());
    for line in lines {
        let mut words: Vec<Token> = line.args.clone();
        if words.len() < 2 {
            for inner in line.block_lines() {
                words.push(inner.name.clone());
                words.extend(inner.args.iter().cloned());
            }
        } else {
            line.no_block()?;
        }
        rules.push(rules::parse_rule(&words, &line.name)?);
    }
    Ok(Some(Arc::new(Rewrite::new(rules))))
}

#[cfg(test)]
mod edns0_tests;
#[cfg(test)]
mod tests;
