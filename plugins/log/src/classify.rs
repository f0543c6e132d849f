//! Sorting answers into the kinds `class` filters on, as CoreDNS's
//! `response.Typify` and `response.Classify` do.

use clusterdns_api::proto::op::{Message, OpCode, ResponseCode};
use clusterdns_api::proto::rr::RecordType;

/// What kind of answer a message is (`{/log/type}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseType {
    /// A positive answer, or NOERROR with nothing that makes it one of the others.
    NoError,
    /// NXDOMAIN.
    NameError,
    /// SERVFAIL or NOTIMP.
    ServerError,
    /// The name exists but not the type: NOERROR with a SOA in the authority section.
    NoData,
    /// A referral: NOERROR with NS records in the authority section.
    Delegation,
    /// A zone transfer or a NOTIFY.
    Meta,
    /// A dynamic update.
    Update,
    /// Anything else, such as REFUSED or FORMERR.
    OtherError,
}

/// The coarser classes the `class` option names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseClass {
    /// NOERROR answers and referrals.
    Success,
    /// NXDOMAIN and NODATA.
    Denial,
    /// Everything else.
    Error,
}

impl ResponseType {
    /// Classifies the answer `message` to a query of type `qtype` (the message has no
    /// question section of its own: the server writes it).
    ///
    /// CoreDNS also types an answer with an expired RRSIG as an error when the client
    /// set DO; clusterdns serves no signed zones, so that check is left out.
    pub fn of(message: &Message, qtype: RecordType) -> Self {
        let rcode = message.metadata.response_code;
        match message.metadata.op_code {
            OpCode::Update => return Self::Update,
            OpCode::Notify => return Self::Meta,
            _ => {}
        }
        if matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
            return Self::Meta;
        }
        if !message.answers.is_empty() {
            match rcode {
                ResponseCode::NoError => return Self::NoError,
                // Records and NXDOMAIN together make no sense.
                ResponseCode::NXDomain => return Self::OtherError,
                _ => {}
            }
        }
        let authority_has = |t: RecordType| {
            message
                .authorities
                .iter()
                .any(|record| record.record_type() == t)
        };
        match rcode {
            ResponseCode::NoError if authority_has(RecordType::SOA) => Self::NoData,
            ResponseCode::NXDomain => Self::NameError,
            ResponseCode::ServFail | ResponseCode::NotImp => Self::ServerError,
            ResponseCode::NoError if authority_has(RecordType::NS) => Self::Delegation,
            ResponseCode::NoError => Self::NoError,
            _ => Self::OtherError,
        }
    }

    /// The name CoreDNS gives it in `{/log/type}`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoError => "NOERROR",
            Self::NameError => "NXDOMAIN",
            Self::ServerError => "SERVERERROR",
            Self::NoData => "NODATA",
            Self::Delegation => "DELEGATION",
            Self::Meta => "META",
            Self::Update => "UPDATE",
            Self::OtherError => "OTHERERROR",
        }
    }

    /// Its class.
    pub fn class(self) -> ResponseClass {
        match self {
            Self::NoError | Self::Delegation => ResponseClass::Success,
            Self::NameError | Self::NoData => ResponseClass::Denial,
            Self::ServerError | Self::Meta | Self::Update | Self::OtherError => {
                ResponseClass::Error
            }
        }
    }
}

impl ResponseClass {
    /// The name CoreDNS gives it in `{/log/class}` and in the `class` option.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Denial => "denial",
            Self::Error => "error",
        }
    }
}

#[cfg(test)]
mod tests {
    use clusterdns_api::proto::op::MessageType;
    use clusterdns_api::proto::rr::rdata::{A, NS, SOA};
    use clusterdns_api::proto::rr::{Name, RData, Record};

    use super::*;

    fn message(rcode: ResponseCode) -> Message {
        let mut m = Message::new(1, MessageType::Response, OpCode::Query);
        m.metadata.response_code = rcode;
        m
    }

    fn name() -> Name {
        Name::from_ascii("example.org.").expect("name")
    }

    fn soa() -> Record {
        let soa = SOA::new(name(), name(), 1, 2, 3, 4, 5);
        Record::from_rdata(name(), 5, RData::SOA(soa))
    }

    #[test]
    fn types_and_classes_follow_coredns() {
        let mut positive = message(ResponseCode::NoError);
        positive
            .answers
            .push(Record::from_rdata(name(), 5, RData::A(A::new(10, 0, 0, 1))));
        let mut nodata = message(ResponseCode::NoError);
        nodata.authorities.push(soa());
        let mut nxdomain = message(ResponseCode::NXDomain);
        nxdomain.authorities.push(soa());
        let mut referral = message(ResponseCode::NoError);
        referral
            .authorities
            .push(Record::from_rdata(name(), 5, RData::NS(NS(name()))));
        let mut odd = message(ResponseCode::NXDomain);
        odd.answers = positive.answers.clone();
        let mut update = message(ResponseCode::NoError);
        update.metadata.op_code = OpCode::Update;

        let cases = [
            (&positive, RecordType::A, ResponseType::NoError, "success"),
            (
                &message(ResponseCode::NoError),
                RecordType::A,
                ResponseType::NoError,
                "success",
            ),
            (&nodata, RecordType::AAAA, ResponseType::NoData, "denial"),
            (&nxdomain, RecordType::A, ResponseType::NameError, "denial"),
            (
                &referral,
                RecordType::A,
                ResponseType::Delegation,
                "success",
            ),
            (
                &message(ResponseCode::ServFail),
                RecordType::A,
                ResponseType::ServerError,
                "error",
            ),
            (
                &message(ResponseCode::NotImp),
                RecordType::A,
                ResponseType::ServerError,
                "error",
            ),
            (
                &message(ResponseCode::Refused),
                RecordType::A,
                ResponseType::OtherError,
                "error",
            ),
            (&odd, RecordType::A, ResponseType::OtherError, "error"),
            (&positive, RecordType::AXFR, ResponseType::Meta, "error"),
            (&update, RecordType::SOA, ResponseType::Update, "error"),
        ];
        for (m, qtype, want, class) in cases {
            let got = ResponseType::of(m, qtype);
            assert_eq!(got, want, "{m:?}");
            assert_eq!(got.class().as_str(), class, "{want:?}");
        }
    }
}
