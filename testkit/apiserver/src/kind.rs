//! The resource kinds this server knows, and everything about them that the
//! wire protocol needs (group/version, plural, list kind, scope).
//!
//! Kept in one table so that routing, storage and encoding agree on names.

use std::fmt;

/// A kind of Kubernetes object the fake API server stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `v1` Namespace (cluster-scoped).
    Namespace,
    /// `v1` Service.
    Service,
    /// `v1` Pod.
    Pod,
    /// `discovery.k8s.io/v1` EndpointSlice.
    EndpointSlice,
}

impl Kind {
    /// Every supported kind.
    pub const ALL: [Kind; 4] = [
        Kind::Namespace,
        Kind::Service,
        Kind::Pod,
        Kind::EndpointSlice,
    ];

    /// The `kind` field value, e.g. `"Service"`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Namespace => "Namespace",
            Kind::Service => "Service",
            Kind::Pod => "Pod",
            Kind::EndpointSlice => "EndpointSlice",
        }
    }

    /// The `apiVersion` field value, e.g. `"v1"` or `"discovery.k8s.io/v1"`.
    pub fn api_version(self) -> &'static str {
        match self {
            Kind::EndpointSlice => "discovery.k8s.io/v1",
            _ => "v1",
        }
    }

    /// The lower-case plural used in URL paths, e.g. `"services"`.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Namespace => "namespaces",
            Kind::Service => "services",
            Kind::Pod => "pods",
            Kind::EndpointSlice => "endpointslices",
        }
    }

    /// The `kind` of a list of these, e.g. `"ServiceList"`.
    pub fn list_kind(self) -> &'static str {
        match self {
            Kind::Namespace => "NamespaceList",
            Kind::Service => "ServiceList",
            Kind::Pod => "PodList",
            Kind::EndpointSlice => "EndpointSliceList",
        }
    }

    /// Whether objects of this kind live in a namespace.
    pub fn namespaced(self) -> bool {
        !matches!(self, Kind::Namespace)
    }

    /// Whether the kind is in the core (`/api/v1`) group.
    pub fn is_core(self) -> bool {
        self.api_version() == "v1"
    }

    /// Looks a kind up by its `kind` name, its plural or its lower-case singular
    /// (case-insensitive): `"Service"`, `"services"`, `"service"`.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| s.eq_ignore_ascii_case(k.name()) || s.eq_ignore_ascii_case(k.plural()))
    }

    /// Looks a kind up by its exact `kind` field value.
    pub(crate) fn from_kind_name(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Looks a kind up by its exact URL plural.
    pub(crate) fn from_plural(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.plural() == s)
    }

    /// A dense index, for per-kind arrays.
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Something that names a [`Kind`]: the enum itself, or a string accepted by
/// [`Kind::parse`] (`"Service"`, `"services"`, ...), for terse tests.
pub trait AsKind {
    /// The kind.
    ///
    /// # Panics
    ///
    /// If a string names no supported kind.
    fn as_kind(&self) -> Kind;
}

impl AsKind for Kind {
    fn as_kind(&self) -> Kind {
        *self
    }
}

impl AsKind for &str {
    fn as_kind(&self) -> Kind {
        match Kind::parse(self) {
            Some(kind) => kind,
            None => panic!("unsupported kind {self:?}"),
        }
    }
}

impl AsKind for String {
    fn as_kind(&self) -> Kind {
        self.as_str().as_kind()
    }
}
