//! DNS over TLS (RFC 7858): the client configuration and where each upstream's
//! certificate is checked against.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// The TLS client settings of one `forward`, from its `tls [CERT KEY] [CA]` line.
///
/// Without a CA file the server's certificate is checked against Mozilla's root
/// certificates (compiled in, so no CA bundle is needed in the image); with CERT and
/// KEY the client authenticates with that certificate.
pub(crate) fn client_config(
    ca: Option<&Path>,
    client: Option<(&Path, &Path)>,
) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(path) => {
            for cert in read_certs(path)? {
                roots
                    .add(cert)
                    .map_err(|e| format!("invalid CA certificate in {}: {e}", path.display()))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    // An explicit provider: `ClientConfig::builder()` panics when the process has more
    // than one installed.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => {
            let certs = read_certs(cert)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("cannot read a private key from {}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("invalid client certificate or key: {e}"))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// The PEM certificates of `path`; at least one.
fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("no PEM certificate in {}", path.display()));
    }
    Ok(certs)
}

/// Checks that `name` can be a TLS server name (a DNS name or an IP address).
pub(crate) fn server_name(name: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(name.to_owned())
        .map_err(|_| format!("{name:?} is not a valid TLS server name"))
}

/// How one upstream is reached over TLS: the client settings and the name its
/// certificate must be valid for.
#[derive(Clone)]
pub(crate) struct TlsTarget {
    pub connector: TlsConnector,
    pub server_name: ServerName<'static>,
}

impl TlsTarget {
    pub fn new(config: Arc<ClientConfig>, server_name: ServerName<'static>) -> Self {
        Self {
            connector: TlsConnector::from(config),
            server_name,
        }
    }
}

impl fmt::Debug for TlsTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsTarget")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn data(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name)
    }

    #[test]
    fn loads_every_combination_of_files() {
        client_config(None, None).unwrap();
        client_config(Some(&data("ca.pem")), None).unwrap();
        client_config(None, Some((&data("client.pem"), &data("client.key")))).unwrap();
        client_config(
            Some(&data("ca.pem")),
            Some((&data("client.pem"), &data("client.key"))),
        )
        .unwrap();
    }

    #[test]
    fn explains_bad_files() {
        let err = client_config(Some(Path::new("/nonexistent/ca.pem")), None).unwrap_err();
        assert!(
            err.starts_with("cannot read certificates from /nonexistent/ca.pem"),
            "{err}"
        );
        let err = client_config(Some(&data("client.key")), None).unwrap_err();
        assert!(err.starts_with("no PEM certificate in"), "{err}");
        let err = client_config(None, Some((&data("client.pem"), &data("ca.pem")))).unwrap_err();
        assert!(err.starts_with("cannot read a private key from"), "{err}");
        assert!(server_name("dns.example").is_ok());
        assert!(server_name("127.0.0.1").is_ok());
        assert_eq!(
            server_name("not a name").unwrap_err(),
            "\"not a name\" is not a valid TLS server name"
        );
    }
}
