//! DNS over TLS (RFC 7858): the client configuration and where each upstream's
//! certificate is checked against.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::{self, PemObject};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// Why the TLS settings of a `forward` cannot be used. The texts follow `tls:` in the
/// Corefile error.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate file cannot be read or is not PEM.
    #[error("cannot read certificates from {}: {source}", .path.display())]
    ReadCerts {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: pem::Error,
    },
    /// A certificate file holds no certificate.
    #[error("no PEM certificate in {}", .0.display())]
    NoCertificate(PathBuf),
    /// A CA certificate is not usable.
    #[error("invalid CA certificate in {}: {source}", .path.display())]
    InvalidCa {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rustls::Error,
    },
    /// The TLS library refused the protocol versions.
    #[error("{0}")]
    Protocols(#[source] rustls::Error),
    /// The client key file cannot be read.
    #[error("cannot read a private key from {}: {source}", .path.display())]
    ReadKey {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: pem::Error,
    },
    /// The client certificate and key do not go together.
    #[error("invalid client certificate or key: {0}")]
    ClientCert(#[source] rustls::Error),
    /// A name that cannot be checked against a certificate.
    #[error("{0:?} is not a valid TLS server name")]
    ServerName(String),
}

/// The TLS client settings of one `forward`, from its `tls [CERT KEY] [CA]` line.
///
/// Without a CA file the server's certificate is checked against Mozilla's root
/// certificates (compiled in, so no CA bundle is needed in the image); with CERT and
/// KEY the client authenticates with that certificate.
pub(crate) fn client_config(
    ca: Option<&Path>,
    client: Option<(&Path, &Path)>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(path) => {
            for cert in read_certs(path)? {
                roots.add(cert).map_err(|source| TlsError::InvalidCa {
                    path: path.to_owned(),
                    source,
                })?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    // An explicit provider: `ClientConfig::builder()` panics when the process has more
    // than one installed.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Protocols)?
        .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => {
            let certs = read_certs(cert)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::ReadKey {
                path: key.to_owned(),
                source,
            })?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(TlsError::ClientCert)?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// The PEM certificates of `path`; at least one.
fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::ReadCerts {
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.to_owned()));
    }
    Ok(certs)
}

/// Checks that `name` can be a TLS server name (a DNS name or an IP address).
pub(crate) fn server_name(name: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(name.to_owned()).map_err(|_| TlsError::ServerName(name.to_owned()))
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
        let err = client_config(Some(Path::new("/nonexistent/ca.pem")), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("cannot read certificates from /nonexistent/ca.pem"),
            "{err}"
        );
        let err = client_config(Some(&data("client.key")), None).unwrap_err();
        assert!(matches!(err, TlsError::NoCertificate(_)), "{err}");
        let err = err.to_string();
        assert!(err.starts_with("no PEM certificate in"), "{err}");
        let err = client_config(None, Some((&data("client.pem"), &data("ca.pem"))))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("cannot read a private key from"), "{err}");
        assert!(server_name("dns.example").is_ok());
        assert!(server_name("127.0.0.1").is_ok());
        assert_eq!(
            server_name("not a name").unwrap_err().to_string(),
            "\"not a name\" is not a valid TLS server name"
        );
    }
}
