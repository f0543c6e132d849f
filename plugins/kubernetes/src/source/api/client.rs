//! Builds the Kubernetes client from the plugin's options, the way CoreDNS picks its
//! configuration: `kubeconfig` if given, else `endpoint` (with `tls`), else the
//! in-cluster service account, else the usual kubeconfig (`$KUBECONFIG`,
//! `~/.kube/config`). Request limits (`apiserver_qps`...) wrap the HTTP stack.

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use std::sync::Arc;

use super::health::{ApiHealth, RetryAfterLayer};
use super::limit::LimitLayer;
use crate::config::ApiOptions;

/// Why no client could be built. Not fatal: the source logs it and tries again.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The `endpoint` URL does not parse.
    #[error("endpoint {url:?} is not a valid URL: {source}")]
    Endpoint {
        /// The URL as written.
        url: String,
        /// What is wrong with it.
        source: http::uri::InvalidUri,
    },
    /// The kubeconfig file could not be read or used.
    #[error("kubeconfig {file}: {source}")]
    Kubeconfig {
        /// The file.
        file: String,
        /// What went wrong.
        source: kube::config::KubeconfigError,
    },
    /// Neither in-cluster configuration nor a kubeconfig was found.
    #[error(
        "no Kubernetes API configuration: not running in a cluster and no usable kubeconfig ({0})"
    )]
    Infer(kube::config::InferConfigError),
    /// The HTTP client could not be built (TLS material, proxy...).
    #[error("cannot build the Kubernetes client: {0}")]
    Client(kube::Error),
}

/// A client, and the API server's URL (for logs).
pub struct Connected {
    /// The client.
    pub client: Client,
    /// The API server's base URL.
    pub url: String,
}

/// A client for `options`, recording `Retry-After` answers into `health`.
pub async fn connect(
    options: &ApiOptions,
    health: &Arc<ApiHealth>,
) -> Result<Connected, ConnectError> {
    let mut config = config_for(options).await?;
    // Watches are long polls: their idle detection is the reflector's (and each request
    // has its own deadline there), not a read timeout.
    config.read_timeout = None;
    let url = config.cluster_url.to_string();
    let limits = LimitLayer::new(options.qps, options.burst, options.max_inflight);
    let builder = kube::client::ClientBuilder::try_from(config).map_err(ConnectError::Client)?;
    let client = builder
        .with_layer(&limits)
        .with_layer(&RetryAfterLayer::new(health.clone()))
        .build();
    Ok(Connected { client, url })
}

async fn config_for(options: &ApiOptions) -> Result<Config, ConnectError> {
    let endpoint = match &options.endpoint {
        Some(url) => Some(
            url.parse::<http::Uri>()
                .map_err(|source| ConnectError::Endpoint {
                    url: url.clone(),
                    source,
                })?,
        ),
        None => None,
    };
    if let Some((file, context)) = &options.kubeconfig {
        let kubeconfig_error = |source| ConnectError::Kubeconfig {
            file: file.display().to_string(),
            source,
        };
        let kubeconfig = Kubeconfig::read_from(file).map_err(kubeconfig_error)?;
        let choice = KubeConfigOptions {
            context: context.clone(),
            ..KubeConfigOptions::default()
        };
        let mut config = Config::from_custom_kubeconfig(kubeconfig, &choice)
            .await
            .map_err(kubeconfig_error)?;
        if let Some(url) = endpoint {
            config.cluster_url = url;
        }
        return Ok(config);
    }
    if let Some(url) = endpoint {
        let mut config = Config::new(url);
        if let Some((cert, key, ca)) = &options.tls {
            config.auth_info.client_certificate = Some(cert.display().to_string());
            config.auth_info.client_key = Some(key.display().to_string());
            // Re-read periodically, so a rotated CA is picked up.
            config.root_cert_file = Some(ca.clone());
        }
        return Ok(config);
    }
    Config::infer().await.map_err(ConnectError::Infer)
}
