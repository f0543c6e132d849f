//! Listen addresses of the HTTP endpoints, as written in the Corefile.

use std::net::Ipv6Addr;

use crate::{ConfigError, Directive, Token};

/// Checks that `token` is a `host:port` listen address and returns it as written.
///
/// The host may be empty (`:8080`, every address), a name, an IPv4 address or an IPv6
/// address in brackets, as Go's `net.SplitHostPort` accepts in CoreDNS. The port must
/// be a number: service names such as `:http` cannot be bound here.
pub fn listen_addr(token: &Token, directive: &str) -> Result<String, ConfigError> {
    let valid = split_host_port(&token.text)
        .is_some_and(|(host, port)| valid_host(host) && port.parse::<u16>().is_ok());
    if !valid {
        return Err(token.error(format!(
            "{directive}: expected a listen address host:port such as :8080 or \
             localhost:8080, got {:?}",
            token.text
        )));
    }
    Ok(token.text.clone())
}

/// Reads the `[ADDRESS]` argument of an HTTP endpoint directive (`health`, `ready`,
/// `prometheus`): at most one argument, a listen address, else `default_addr`.
pub fn http_endpoint(directive: &Directive, default_addr: &str) -> Result<String, ConfigError> {
    directive.arg_count(0, 1)?;
    match directive.args.first() {
        Some(token) => listen_addr(token, &directive.name.text),
        None => Ok(default_addr.to_owned()),
    }
}

/// Splits `host:port`, `[v6]:port` or `:port`; `None` when there is no port, or when an
/// unbracketed host has colons (an IPv6 address must be bracketed).
fn split_host_port(text: &str) -> Option<(&str, &str)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let ip = host.split_once('%').map_or(host, |(ip, _zone)| ip);
        ip.parse::<Ipv6Addr>().ok()?;
        return Some(("", after.strip_prefix(':')?));
    }
    let (host, port) = text.rsplit_once(':')?;
    (!host.contains([':', '[', ']'])).then_some((host, port))
}

/// An empty host, or dot-separated labels of letters, digits, `-` and `_` (which
/// covers IPv4 addresses too).
fn valid_host(host: &str) -> bool {
    host.is_empty()
        || host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_valid_addresses_as_written() {
        for text in [
            ":8080",
            "localhost:8080",
            "127.0.0.1:0",
            "[::1]:8080",
            "[fe80::1%eth0]:80",
            "my-host.example:65535",
        ] {
            let token = Token::synthetic(text);
            assert_eq!(listen_addr(&token, "health").unwrap(), text);
        }
    }

    #[test]
    fn rejects_what_is_not_host_port() {
        for text in [
            "8080",
            "localhost",
            ":",
            "::1:8080",
            "[::1]8080",
            "[nothost]:80",
            "localhost:http",
            "localhost:70000",
            "a..b:80",
            "host name:80",
        ] {
            let err = listen_addr(&Token::synthetic(text), "health").unwrap_err();
            assert!(
                err.message.starts_with("health: expected a listen address"),
                "{text}"
            );
        }
    }
}
