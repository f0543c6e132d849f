//! Reading the `hosts` directive.

use std::path::PathBuf;
use std::time::Duration;

use clusterdns_api::zone::parse_zone;
use clusterdns_api::{ConfigError, Directive, Fallthrough, SetupCtx};
use hickory_proto::rr::Name;

use crate::map::parse_ip;

/// The file read when the directive names none.
pub(crate) const DEFAULT_PATH: &str = "/etc/hosts";
/// CoreDNS's default TTL for hosts answers: one hour.
pub(crate) const DEFAULT_TTL: u32 = 3600;
/// CoreDNS's default interval between checks of the file.
pub(crate) const DEFAULT_RELOAD: Duration = Duration::from_secs(5);

/// Everything the `hosts` directive configures.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct HostsConfig {
    pub path: PathBuf,
    pub zones: Vec<Name>,
    pub inline: Vec<String>,
    pub ttl: u32,
    pub reverse: bool,
    pub reload: Duration,
    pub fallthrough: Fallthrough,
    pub fallthrough_unsupported: bool,
}

impl HostsConfig {
    /// Parses `hosts [FILE [ZONES...]] { ... }`.
    pub fn parse(directive: &Directive, ctx: &SetupCtx) -> Result<Self, ConfigError> {
        let mut config = Self {
            path: ctx.resolve_path(DEFAULT_PATH),
            zones: ctx.zones.clone(),
            inline: Vec::new(),
            ttl: DEFAULT_TTL,
            reverse: true,
            reload: DEFAULT_RELOAD,
            fallthrough: Fallthrough::default(),
            fallthrough_unsupported: false,
        };
        if let Some((file, zones)) = directive.args.split_first() {
            config.path = ctx.resolve_path(&file.text);
            check_file(&config.path, file)?;
            if !zones.is_empty() {
                config.zones = zones.iter().map(parse_zone).collect::<Result<_, _>>()?;
            }
        }
        if config.zones.is_empty() {
            config.zones.push(Name::root());
        }
        for line in directive.block_lines() {
            config.option(directive, line)?;
        }
        if config.fallthrough_unsupported && config.fallthrough == Fallthrough::default() {
            return Err(directive.error("fallthrough_unsupported requires fallthrough"));
        }
        Ok(config)
    }

    /// Applies one line of the block.
    fn option(&mut self, directive: &Directive, line: &Directive) -> Result<(), ConfigError> {
        match line.name.text.as_str() {
            "fallthrough" => self.fallthrough = Fallthrough::parse(line)?,
            "fallthrough_unsupported" => {
                line.flag()?;
                self.fallthrough_unsupported = true;
            }
            "no_reverse" => {
                line.flag()?;
                self.reverse = false;
            }
            "ttl" => {
                line.check_args(1, 1)?;
                let token = &line.args[0];
                self.ttl = token
                    .parse::<u32>("a TTL in seconds")
                    .ok()
                    .filter(|ttl| (1..=65535).contains(ttl))
                    .ok_or_else(|| {
                        token.error(format!(
                            "ttl: expected seconds from 1 to 65535, got {:?}",
                            token.text
                        ))
                    })?;
            }
            "reload" => {
                line.check_args(1, 1)?;
                self.reload = line.args[0].duration()?;
            }
            first if parse_ip(first).is_some() => {
                line.no_block()?;
                let words: Vec<&str> = std::iter::once(first)
                    .chain(line.args.iter().map(|t| t.text.as_str()))
                    .collect();
                self.inline.push(words.join(" "));
            }
            _ => return Err(directive.unknown_option(line)),
        }
        Ok(())
    }
}

/// A missing file is only worth a warning (the inline entries are served, and the file
/// is picked up when it appears), but one that exists and cannot be read is an error,
/// as in CoreDNS.
fn check_file(path: &std::path::Path, token: &clusterdns_api::Token) -> Result<(), ConfigError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            tracing::warn!(path = %path.display(), "hosts: file is a directory");
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(path = %path.display(), "hosts: file does not exist");
        }
        Err(e) => {
            return Err(token.error(format!(
                "hosts: unable to access hosts file {:?}: {e}",
                path.display().to_string()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{directive, setup_ctx};

    fn parse(text: &str) -> Result<HostsConfig, ConfigError> {
        HostsConfig::parse(&directive(text), &setup_ctx(&["example.org."]))
    }

    #[test]
    fn defaults() {
        let config = parse("hosts").unwrap();
        assert_eq!(config.path, PathBuf::from("/etc/hosts"));
        assert_eq!(config.zones, [Name::from_ascii("example.org.").unwrap()]);
        assert_eq!(config.ttl, 3600);
        assert_eq!(config.reload, Duration::from_secs(5));
        assert!(config.reverse);
        assert!(config.inline.is_empty());
        assert!(!config.fallthrough.through(&Name::root()));
    }

    #[test]
    fn reads_every_option() {
        let config = parse(
            "hosts my.hosts Example.NET in-addr.arpa {\n\
             10.0.0.1 a.example.net b\n\
             ::1 c.example.net\n\
             ttl 60\n\
             no_reverse\n\
             reload 0\n\
             fallthrough in-addr.arpa\n\
             fallthrough_unsupported\n\
             }",
        )
        .unwrap();
        assert_eq!(config.path, PathBuf::from("/corefile-dir/my.hosts"));
        assert_eq!(
            config.zones,
            [
                Name::from_ascii("example.net.").unwrap(),
                Name::from_ascii("in-addr.arpa.").unwrap()
            ]
        );
        assert_eq!(
            config.inline,
            ["10.0.0.1 a.example.net b", "::1 c.example.net"]
        );
        assert_eq!(config.ttl, 60);
        assert!(!config.reverse);
        assert_eq!(config.reload, Duration::ZERO);
        assert!(
            config
                .fallthrough
                .through(&Name::from_ascii("1.in-addr.arpa.").unwrap())
        );
        assert!(config.fallthrough_unsupported);
    }

    #[test]
    fn errors_name_their_position() {
        let cases = [
            ("hosts {\nttl\n}", "Corefile:2:1: ttl: wrong argument count"),
            (
                "hosts {\nttl 0\n}",
                "Corefile:2:5: ttl: expected seconds from 1 to 65535",
            ),
            (
                "hosts {\nttl 70000\n}",
                "Corefile:2:5: ttl: expected seconds",
            ),
            ("hosts {\nttl x\n}", "Corefile:2:5: ttl: expected seconds"),
            (
                "hosts {\nreload -1s\n}",
                "Corefile:2:8: expected a duration",
            ),
            (
                "hosts {\nno_reverse yes\n}",
                "Corefile:2:12: no_reverse: wrong argument count",
            ),
            (
                "hosts {\n  bogus 1\n}",
                "Corefile:2:3: hosts: unknown property \"bogus\"",
            ),
            ("hosts f example..org", "Corefile:1:9: expected a zone name"),
            (
                "hosts {\nfallthrough_unsupported\n}",
                "Corefile:1:1: hosts: fallthrough_unsupported requires",
            ),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{text:?}: {err}");
        }
    }
}
