//! A rendered template text (`name TTL CLASS TYPE RDATA`, zone-file notation) read
//! into a record, as CoreDNS reads it with `dns.NewRR`.

use clusterdns_api::proto::rr::{Name, Record};
use clusterdns_api::proto::serialize::txt::Parser;

/// The TTL of a record that gives none: `dns.NewRR`'s default.
const DEFAULT_TTL: u32 = 3600;

/// Reads one record from `text`. Relative names are completed with the root, as
/// `dns.NewRR` does. Zone-file directives (`$INCLUDE`, `$ORIGIN`, `$TTL`) are refused:
/// the text is built from the query, and must never make the server read a file.
pub fn parse_record(text: &str) -> Result<Record, String> {
    if text.contains('$') {
        return Err("zone-file directives ($...) are not allowed in a record".to_owned());
    }
    let input = format!("$TTL {DEFAULT_TTL}\n{text}\n");
    let (_, sets) = Parser::new(input.as_str(), None, Some(Name::root()))
        .parse()
        .map_err(|e| e.to_string())?;
    let mut records = sets
        .into_values()
        .flat_map(|set| set.records_without_rrsigs().cloned().collect::<Vec<_>>());
    let record = records.next().ok_or_else(|| "no record".to_owned())?;
    if records.next().is_some() {
        return Err("more than one record".to_owned());
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusterdns_api::proto::rr::{DNSClass, RecordType};

    #[test]
    fn reads_records_as_dns_newrr_does() {
        let a = parse_record("ip-10-1-2-3.example. 60 IN A 10.1.2.3").unwrap();
        assert_eq!(a.record_type(), RecordType::A);
        assert_eq!(a.ttl, 60);
        assert_eq!(a.name.to_string(), "ip-10-1-2-3.example.");
        let cname = parse_record("foogle.com 60 IN CNAME google.com").unwrap();
        assert_eq!(cname.name.to_string(), "foogle.com.");
        assert_eq!(cname.data.to_string(), "google.com.");
        let soa =
            parse_record("invalid. 60 CH SOA ns.invalid. hostmaster.invalid. (1 60 60 60 60)")
                .unwrap();
        assert_eq!(soa.record_type(), RecordType::SOA);
        assert_eq!(soa.dns_class, DNSClass::CH);
        let no_ttl = parse_record("a.example. IN TXT \"hello world\"").unwrap();
        assert_eq!(no_ttl.ttl, DEFAULT_TTL);
    }

    #[test]
    fn refuses_bad_records_and_directives() {
        for bad in [
            "",
            "a.example. 60 IN A 300.1.1.1",
            "a.example. 60 IN NOSUCH x",
            "$INCLUDE /etc/passwd",
            "a.example. 60 IN A 10.0.0.1\nb.example. 60 IN A 10.0.0.2",
            "a.example. 60 IN MX",
        ] {
            assert!(parse_record(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn odd_records_of_every_type_never_panic() {
        let types = [
            "A",
            "AAAA",
            "NS",
            "CNAME",
            "SOA",
            "PTR",
            "MX",
            "TXT",
            "SRV",
            "NAPTR",
            "CAA",
            "TLSA",
            "SSHFP",
            "HINFO",
            "OPENPGPKEY",
            "SVCB",
            "HTTPS",
            "CERT",
            "NULL",
            "OPT",
            "ANY",
            "TYPE65534",
            "CSYNC",
            "DS",
            "DNSKEY",
        ];
        let data = [
            "",
            "1",
            "-1",
            "x",
            "\"",
            "\"\\",
            "( 1 2",
            ")",
            "0 0 0 .",
            "65536 . .",
            "1 1 ff",
            "0 issue \"\"",
            "1 alpn=h2,, port=99999",
            "\\# 3 abcdef",
            "\\# 99",
            "1.2.3.4.5",
            "::ffff:1.2.3.4",
            "a.b.c.d. e.f. 1 2 3 4 5 6",
            "; comment",
            "@",
        ];
        for rtype in types {
            for rdata in data {
                let _ = parse_record(&format!("x.example. 60 IN {rtype} {rdata}"));
            }
        }
    }
}
