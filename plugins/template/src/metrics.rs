//! `coredns_template_*` metrics, registered once per process.

use std::sync::LazyLock;

use clusterdns_api::metrics::{Label, register};
use clusterdns_api::proto::rr::{DNSClass, RecordType};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

/// A class label written from its number only when the metric is scraped, so that a
/// query on the wire path builds no string.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub(crate) struct ClassLabel(pub DNSClass);

impl EncodeLabelValue for ClassLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_fmt(encoder, format_args!("{}", self.0))
    }
}

/// A type label, written when scraped.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub(crate) struct TypeLabel(pub RecordType);

impl EncodeLabelValue for TypeLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_fmt(encoder, format_args!("{}", self.0))
    }
}

/// `{server, zone, view, class, type}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct MatchLabels {
    pub server: Label,
    pub zone: Label,
    pub view: &'static str,
    pub class: ClassLabel,
    pub r#type: TypeLabel,
}

/// `{server, zone, view, class, type, section, template}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct FailureLabels {
    pub server: Label,
    pub zone: Label,
    pub view: &'static str,
    pub class: ClassLabel,
    pub r#type: TypeLabel,
    pub section: &'static str,
    pub template: Label,
}

pub(crate) struct Families {
    pub matches: Family<MatchLabels, Counter>,
    pub template_failures: Family<FailureLabels, Counter>,
    pub rr_failures: Family<FailureLabels, Counter>,
}

pub(crate) static FAMILIES: LazyLock<Families> = LazyLock::new(|| {
    let families = Families {
        matches: Family::default(),
        template_failures: Family::default(),
        rr_failures: Family::default(),
    };
    register(
        "template_matches",
        "Counter of template regex matches.",
        families.matches.clone(),
    );
    register(
        "template_template_failures",
        "Counter of go template failures.",
        families.template_failures.clone(),
    );
    register(
        "template_rr_failures",
        "Counter of mis-templated RRs.",
        families.rr_failures.clone(),
    );
    families
});
