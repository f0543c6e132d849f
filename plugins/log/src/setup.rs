//! Reading `log [NAMES...] [FORMAT] [{ class CLASSES... }]`.

use std::sync::Arc;

use clusterdns_api::proto::rr::Name;
use clusterdns_api::zone::parse_zone;
use clusterdns_api::{ConfigError, Directive, Plugin, SetupCtx};

use crate::Log;
use crate::classify::ResponseClass;
use crate::format::Format;

/// Builds the plugin from one `log` directive.
pub fn setup(
    directive: &Directive,
    _ctx: &mut SetupCtx,
) -> Result<Option<Arc<dyn Plugin>>, ConfigError> {
    Ok(Some(Arc::new(Log::new(parse(directive)?))))
}

/// Which answers a rule logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Classes {
    all: bool,
    success: bool,
    denial: bool,
    error: bool,
}

impl Classes {
    /// Every answer.
    pub fn all() -> Self {
        Self {
            all: true,
            ..Self::default()
        }
    }

    /// Whether an answer of `class` is logged.
    pub fn contains(&self, class: ResponseClass) -> bool {
        self.all
            || match class {
                ResponseClass::Success => self.success,
                ResponseClass::Denial => self.denial,
                ResponseClass::Error => self.error,
            }
    }

    /// Adds a class by its Corefile name; false when there is no such class.
    fn add(&mut self, name: &str) -> bool {
        let flag = match name {
            "all" => &mut self.all,
            "success" => &mut self.success,
            "denial" => &mut self.denial,
            "error" => &mut self.error,
            _ => return false,
        };
        *flag = true;
        true
    }
}

/// One name scope of a `log` line.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Queries for this name and below are logged by this rule.
    pub scope: Name,
    /// The answers it logs.
    pub classes: Classes,
    /// How it logs them (shared by the rules of one line).
    pub format: Arc<Format>,
}

/// The rules of a `log` line: one per name, in order, all with the line's format and
/// classes.
pub(crate) fn parse(directive: &Directive) -> Result<Vec<Rule>, ConfigError> {
    let mut args = directive.args.as_slice();
    // The format is the last argument when it has a placeholder; CoreDNS takes a lone
    // argument as a name even then, which can never have been meant.
    let mut format = Format::default();
    if let Some((last, names)) = args.split_last()
        && last.text.contains('{')
    {
        format = Format::parse(&last.text);
        args = names;
    }
    let scopes = if args.is_empty() {
        vec![Name::root()]
    } else {
        args.iter().map(parse_zone).collect::<Result<Vec<_>, _>>()?
    };

    let mut classes = Classes::default();
    for option in directive.block_lines() {
        match option.name.text.as_str() {
            "class" => {
                option.no_block()?;
                if option.args.is_empty() {
                    return Err(option
                        .name
                        .error("log: class needs at least one of all, success, denial, error"));
                }
                for class in &option.args {
                    if !classes.add(&class.text) {
                        return Err(class.error(format!(
                            "log: invalid class {:?}: expected all, success, denial or error",
                            class.text
                        )));
                    }
                }
            }
            _ => return Err(directive.unknown_option(option)),
        }
    }
    if classes == Classes::default() {
        classes = Classes::all();
    }

    let format = Arc::new(format);
    Ok(scopes
        .into_iter()
        .map(|scope| Rule {
            scope,
            classes,
            format: Arc::clone(&format),
        })
        .collect())
}
