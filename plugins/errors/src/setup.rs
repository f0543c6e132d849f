//! Reading `errors [stdout] { stacktrace; consolidate DURATION REGEXP [LEVEL] [show_first] }`.

use std::sync::Arc;

use clusterdns_api::pattern::{MAX_PATTERN_LEN, PatternError, bounded_regex};
use clusterdns_api::{ConfigError, Directive, Plugin, SetupCtx};

use crate::{Errors, Level, Rule};

/// Builds the plugin from its directive.
///
/// `stacktrace` (and its old spelling `panicRecoveryStacktrace`) is accepted for
/// compatibility and changes nothing: see the README.
pub fn setup(
    directive: &Directive,
    _ctx: &mut SetupCtx,
) -> Result<Option<Arc<dyn Plugin>>, ConfigError> {
    Ok(Some(Arc::new(Errors::new(parse(directive)?))))
}

/// The consolidation rules of an `errors` directive.
pub(crate) fn parse(directive: &Directive) -> Result<Vec<Rule>, ConfigError> {
    directive.arg_count(0, 1)?;
    if let Some(target) = directive.args.first()
        && target.text != "stdout"
    {
        return Err(target.error(format!("errors: invalid log file: {:?}", target.text)));
    }
    let mut rules = Vec::new();
    for option in directive.block_lines() {
        match option.name.text.as_str() {
            "stacktrace" | "panicRecoveryStacktrace" => {
                option.check_args(0, 0)?;
            }
            "consolidate" => rules.push(parse_consolidate(option)?),
            _ => return Err(directive.unknown_option(option)),
        }
    }
    Ok(rules)
}

/// `consolidate DURATION REGEXP [LEVEL] [show_first]`: the level, if given, must come
/// before `show_first`, as in CoreDNS.
fn parse_consolidate(option: &Directive) -> Result<Rule, ConfigError> {
    option.check_args(2, 4)?;
    let period = option.args[0].duration()?;
    let source = &option.args[1];
    let pattern = bounded_regex(&source.text).map_err(|error| match error {
        PatternError::TooLong(len) => source.error(format!(
            "consolidate: regex pattern too long: {len} > {MAX_PATTERN_LEN}"
        )),
        PatternError::Invalid(e) => source.error(format!(
            "consolidate: invalid regular expression {:?}: {}",
            source.text,
            regex_problem(&e)
        )),
    })?;

    let mut level = None;
    let mut show_first = false;
    for arg in &option.args[2..] {
        if let Some(l) = Level::from_name(&arg.text) {
            if level.is_some() {
                return Err(arg.error("consolidate: multiple log levels specified"));
            }
            if show_first {
                return Err(arg.error("consolidate: log level must come before show_first"));
            }
            level = Some(l);
        } else if arg.text == "show_first" {
            if show_first {
                return Err(arg.error("consolidate: show_first given twice"));
            }
            show_first = true;
        } else {
            return Err(arg.error(format!(
                "consolidate: unknown option {:?}: expected a log level \
                 (warning, error, info, debug) or show_first",
                arg.text
            )));
        }
    }
    Ok(Rule {
        period,
        pattern,
        level: level.unwrap_or(Level::Error),
        show_first,
    })
}

/// The gist of a regex error on one line: the crate's message spans several lines
/// (the pattern, a caret, then `error: ...`), which would break the one-line
/// `file:line:column: message` form of configuration errors.
fn regex_problem(error: &regex::Error) -> String {
    let text = error.to_string();
    let last = text.lines().last().unwrap_or_default().trim();
    last.strip_prefix("error: ").unwrap_or(last).to_owned()
}
