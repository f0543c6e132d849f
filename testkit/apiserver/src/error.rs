//! The crate's error type.
//!
//! Everything that can go wrong while *configuring* the fake API server (an object
//! that cannot be stored, a manifest that does not parse, a bad label selector)
//! is reported through [`Error`]. Problems met while *answering HTTP requests*
//! are not errors of the crate: they become Kubernetes `Status` objects instead
//! (see `status.rs`).

use std::path::PathBuf;

/// Why an object, manifest or selector was rejected.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The value is not a JSON object.
    #[error("object is not a JSON object")]
    NotAnObject,
    /// The object has no `kind` field.
    #[error("object has no kind")]
    MissingKind,
    /// The object's kind is not one this server stores.
    #[error("unsupported kind {0:?} (supported: Namespace, Service, Pod, EndpointSlice)")]
    UnknownKind(String),
    /// The object has no (or an empty) `metadata.name`, or `metadata` is not an object.
    #[error("{kind} object has no metadata.name")]
    MissingName {
        /// The kind of the offending object.
        kind: &'static str,
    },
    /// A label or field selector does not parse.
    #[error("invalid selector {selector:?}: {reason}")]
    Selector {
        /// The selector as given.
        selector: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A manifest is neither valid JSON nor valid YAML.
    #[error("cannot parse manifest: {0}")]
    Parse(String),
    /// A manifest file or directory cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}
