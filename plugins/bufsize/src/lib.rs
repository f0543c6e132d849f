//! `bufsize`: the EDNS UDP payload size of a server block: UDP answers to EDNS clients
//! are at most this large (or the client's own size, when smaller), and our OPT record
//! advertises it. Like `bind`, it configures the block and takes no part in the chain:
//! the size must be known before any plugin writes an answer, on both request paths.
//! See the crate's README.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::sync::Arc;

use clusterdns_api::{ConfigError, Directive, Plugin, SetupCtx};

/// The size without an argument (DNS Flag Day 2020, as CoreDNS).
pub const DEFAULT_SIZE: u16 = 1232;
/// The smallest size accepted (RFC 6891: below 512 is treated as 512).
pub const MIN_SIZE: u16 = 512;
/// The largest size accepted (CoreDNS's bound).
pub const MAX_SIZE: u16 = 4096;

/// Reads `bufsize [SIZE]` into the block's setup.
pub fn setup(
    directive: &Directive,
    ctx: &mut SetupCtx,
) -> Result<Option<Arc<dyn Plugin>>, ConfigError> {
    directive.check_args(0, 1)?;
    let size = match directive.args.first() {
        None => DEFAULT_SIZE,
        Some(token) => token
            .text
            .parse::<u16>()
            .ok()
            .filter(|size| (MIN_SIZE..=MAX_SIZE).contains(size))
            .ok_or_else(|| {
                token.error(format!(
                    "bufsize: expected a size from {MIN_SIZE} to {MAX_SIZE}, got {:?}",
                    token.text
                ))
            })?,
    };
    ctx.bufsize = Some(size);
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusterdns_api::testing::{directive, setup_ctx};

    fn size(text: &str) -> Result<Option<u16>, ConfigError> {
        let mut ctx = setup_ctx();
        let plugin = setup(&directive(text), &mut ctx)?;
        assert!(plugin.is_none(), "bufsize configures the block only");
        Ok(ctx.bufsize)
    }

    #[test]
    fn sizes_and_default() {
        assert_eq!(size("bufsize").unwrap(), Some(1232));
        assert_eq!(size("bufsize 512").unwrap(), Some(512));
        assert_eq!(size("bufsize 4096").unwrap(), Some(4096));
    }

    #[test]
    fn errors_name_the_position() {
        for (text, expected) in [
            (
                "bufsize 511",
                "Corefile:1:9: bufsize: expected a size from 512 to 4096, got \"511\"",
            ),
            (
                "bufsize big",
                "Corefile:1:9: bufsize: expected a size from 512 to 4096, got \"big\"",
            ),
            (
                "bufsize 1232 1",
                "Corefile:1:14: bufsize: wrong argument count: expected at most 1, got 2 (unexpected \"1\")",
            ),
        ] {
            assert_eq!(size(text).unwrap_err().to_string(), expected, "{text}");
        }
    }
}
