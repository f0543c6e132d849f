//! Rcode names as CoreDNS (miekg/dns) writes them, for the Corefile and metric labels.

use std::borrow::Cow;

use clusterdns_api::proto::op::ResponseCode;

/// The rcode of 12-bit value `value` (the inherent `ResponseCode::from` takes two
/// halves).
fn code(value: u16) -> ResponseCode {
    <ResponseCode as From<u16>>::from(value)
}

/// Names by value, as `dns.RcodeToString`.
const NAMES: [(u16, &str); 20] = [
    (0, "NOERROR"),
    (1, "FORMERR"),
    (2, "SERVFAIL"),
    (3, "NXDOMAIN"),
    (4, "NOTIMP"),
    (5, "REFUSED"),
    (6, "YXDOMAIN"),
    (7, "YXRRSET"),
    (8, "NXRRSET"),
    (9, "NOTAUTH"),
    (10, "NOTZONE"),
    (11, "DSOTYPENI"),
    (16, "BADSIG"),
    (17, "BADKEY"),
    (18, "BADTIME"),
    (19, "BADMODE"),
    (20, "BADNAME"),
    (21, "BADALG"),
    (22, "BADTRUNC"),
    (23, "BADCOOKIE"),
];

/// Parses an rcode name, in any case (`NXDOMAIN`, `servfail`, `BADVERS`).
pub(crate) fn parse(text: &str) -> Option<ResponseCode> {
    let upper = text.to_ascii_uppercase();
    if upper == "BADVERS" {
        return Some(code(16));
    }
    NAMES
        .iter()
        .find(|(_, name)| *name == upper)
        .map(|(value, _)| code(*value))
}

/// The name of `rcode` (`NOERROR`), or its number for one without a name.
pub(crate) fn name(rcode: ResponseCode) -> Cow<'static, str> {
    let value = u16::from(rcode);
    NAMES
        .iter()
        .find(|(v, _)| *v == value)
        .map_or_else(|| Cow::Owned(value.to_string()), |(_, n)| Cow::Borrowed(*n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(parse("nxdomain"), Some(ResponseCode::NXDomain));
        assert_eq!(parse("SERVFAIL"), Some(ResponseCode::ServFail));
        assert_eq!(parse("NoError"), Some(ResponseCode::NoError));
        assert_eq!(parse("NXDOMAN"), None);
        for (value, text) in NAMES {
            assert_eq!(name(code(value)), text);
            assert_eq!(parse(text), Some(code(value)));
        }
        assert_eq!(name(code(3841)), "3841");
    }
}
