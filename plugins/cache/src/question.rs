//! The question a cache entry answers: its own module, so that the entry (`item.rs`)
//! and its encoded form (`encoded.rs`) both depend on it and not on each other.

use clusterdns_api::Ctx;
use hickory_proto::rr::{DNSClass, Name, RecordType};

/// The question an entry answers.
#[derive(Clone, Debug)]
pub(crate) struct Question {
    pub name: Name,
    pub qtype: RecordType,
    pub qclass: DNSClass,
    pub dnssec_ok: bool,
    pub checking_disabled: bool,
}

impl Question {
    /// The question of `ctx`, with its DO and CD bits.
    pub fn of(ctx: &Ctx) -> Self {
        Self {
            name: ctx.qname().clone(),
            qtype: ctx.qtype(),
            qclass: ctx.qclass(),
            dnssec_ok: ctx.dnssec_ok(),
            checking_disabled: ctx.metadata.checking_disabled,
        }
    }

    /// Whether `ctx` asks this question (names compared without case).
    pub fn matches(&self, ctx: &Ctx) -> bool {
        self.qtype == ctx.qtype()
            && self.qclass == ctx.qclass()
            && self.dnssec_ok == ctx.dnssec_ok()
            && self.checking_disabled == ctx.metadata.checking_disabled
            && self.name == *ctx.qname()
    }
}
