//! The `template` plugin in the query chain: which directive matches a query, and the
//! answer it renders.

use clusterdns_api::metrics::Label;
use clusterdns_api::proto::op::{Edns, Query, ResponseCode};
use clusterdns_api::proto::rr::rdata::opt::EdnsOption;
use clusterdns_api::proto::rr::{DNSClass, Name, RData, RecordType};
use clusterdns_api::wire::{AnswerWriter, Wire, WireQuery};
use clusterdns_api::{BoxFuture, Ctx, Next, Plugin, PluginError, Response};

use crate::config::{RrTemplate, Section, TemplateConfig};
use crate::gotmpl::{Data, QuestionData};
use crate::metrics::{ClassLabel, FAMILIES, FailureLabels, MatchLabels, TypeLabel};
use crate::rr::parse_record;

/// The directive name, also the `writer` of every answer.
pub(crate) const NAME: &str = "template";

/// The option code of an Extended DNS Error (RFC 8914).
const EDE_OPTION: u16 = 15;

/// One `template` directive. Several directives in a block are several links of the
/// chain, in Corefile order: a directive that does not match hands the query to the
/// next one, which is CoreDNS's loop over its templates.
pub struct Template {
    config: TemplateConfig,
    zone_labels: Vec<Label>,
    /// The answer needs nothing but a header (the AAAA filter): the wire path writes it.
    rcode_only: bool,
    /// No `match` line: every name in the zones matches, so the wire path can decide
    /// without building the name as text.
    matches_all: bool,
}

/// How a query meets this directive.
enum Found {
    /// Not its zone, class or type: the next directive or plugin.
    NotMine,
    /// Its zone, class and type, but no regex matched.
    NoMatch,
    /// A match, with what the templates see.
    Matched(Box<Data>, usize),
}

/// What to do with a query.
enum Decision {
    Next,
    Reply(Response),
    Fail(PluginError),
}

impl Template {
    pub(crate) fn new(config: TemplateConfig) -> Self {
        let zone_labels = config
            .zones
            .iter()
            .map(|z| Label::from(z.to_string().as_str()))
            .collect();
        Self {
            rcode_only: config.is_rcode_only(),
            matches_all: config.regexes.is_empty(),
            zone_labels,
            config,
        }
    }

    /// The longest of the directive's zones that `name` is in.
    fn zone_of(&self, name: &Name) -> Option<usize> {
        self.config
            .zones
            .iter()
            .enumerate()
            .filter(|(_, zone)| zone.zone_of(name))
            .max_by_key(|(_, zone)| zone.num_labels())
            .map(|(i, _)| i)
    }

    /// Whether the query's class and type are this directive's (ANY on either side
    /// matches anything, as in CoreDNS).
    fn class_and_type_match(&self, qclass: DNSClass, qtype: RecordType) -> bool {
        let class_ok = self.config.qclass == DNSClass::ANY
            || qclass == DNSClass::ANY
            || qclass == self.config.qclass;
        let type_ok = self.config.qtype == RecordType::ANY
            || qtype == RecordType::ANY
            || qtype == self.config.qtype;
        class_ok && type_ok
    }

    /// The class and type labels: the query's, or the directive's for a query of ANY.
    fn labels_for(&self, qclass: DNSClass, qtype: RecordType) -> (DNSClass, RecordType) {
        let class = if qclass == DNSClass::ANY {
            self.config.qclass
        } else {
            qclass
        };
        let rtype = if qtype == RecordType::ANY {
            self.config.qtype
        } else {
            qtype
        };
        (class, rtype)
    }

    fn find(&self, ctx: &Ctx) -> Found {
        let lower = ctx.qname().to_lowercase();
        let Some(zone) = self.zone_of(&lower) else {
            return Found::NotMine;
        };
        if !self.class_and_type_match(ctx.qclass(), ctx.qtype()) {
            return Found::NotMine;
        }
        let name = lower.to_string();
        let (class, rtype) = self.labels_for(ctx.qclass(), ctx.qtype());
        let mut data = Data {
            zone: self.config.zones[zone].to_string(),
            class: class.to_string(),
            qtype: rtype.to_string(),
            question: Some(QuestionData {
                name: ctx.qname().to_string(),
                qtype: u16::from(ctx.qtype()),
                qclass: u16::from(ctx.qclass()),
                type_name: ctx.qtype().to_string(),
                class_name: ctx.qclass().to_string(),
            }),
            message_id: ctx.metadata.id,
            remote: ctx.src.ip().to_canonical().to_string(),
            ..Data::default()
        };
        if self.matches_all {
            data.regex = ".*".to_owned();
            data.matches = vec![name.clone()];
            data.groups = vec![("0".to_owned(), name.clone())];
            data.name = name;
            return Found::Matched(Box::new(data), zone);
        }
        for regex in &self.config.regexes {
            let Some(captures) = regex.captures(&name) else {
                continue;
            };
            let text = |i: usize| {
                captures
                    .get(i)
                    .map(|m| m.as_str().to_owned())
                    .unwrap_or_default()
            };
            data.regex = regex.as_str().to_owned();
            data.matches = (0..captures.len()).map(text).collect();
            data.groups = (0..captures.len())
                .map(|i| (i.to_string(), text(i)))
                .collect();
            for (i, group) in regex.capture_names().enumerate() {
                if let Some(group) = group {
                    data.groups.push((group.to_owned(), text(i)));
                }
            }
            data.name = name;
            return Found::Matched(Box::new(data), zone);
        }
        Found::NoMatch
    }

    /// Counts a match. `server` is the listener's label, shared (not copied) so that
    /// an answer on the wire path allocates nothing.
    fn count_match(&self, server: Label, zone: usize, class: DNSClass, rtype: RecordType) {
        FAMILIES
            .matches
            .get_or_create(&MatchLabels {
                server,
                zone: self.zone_labels[zone].clone(),
                view: "",
                class: ClassLabel(class),
                r#type: TypeLabel(rtype),
            })
            .inc();
    }

    fn decide(&self, ctx: &Ctx) -> Decision {
        let (data, zone) = match self.find(ctx) {
            Found::NotMine => return Decision::Next,
            Found::NoMatch if self.config.fallthrough.through(ctx.qname()) => {
                return Decision::Next;
            }
            Found::NoMatch => {
                return Decision::Reply(Response::new(ctx, NAME, ResponseCode::ServFail));
            }
            Found::Matched(data, zone) => (data, zone),
        };
        let (class, rtype) = self.labels_for(ctx.qclass(), ctx.qtype());
        self.count_match(Label(ctx.server.clone()), zone, class, rtype);
        if self.config.rcode == ResponseCode::ServFail {
            return Decision::Reply(Response::new(ctx, NAME, ResponseCode::ServFail));
        }
        let mut response = Response::authoritative(ctx, NAME, self.config.rcode, Vec::new());
        let failure = |section: Section, rr: &RrTemplate| FailureLabels {
            server: Label::from(&*ctx.server),
            zone: self.zone_labels[zone].clone(),
            view: "",
            class: ClassLabel(class),
            r#type: TypeLabel(rtype),
            section: section.label(),
            template: Label::from(rr.source.as_str()),
        };
        let sections = [
            (Section::Answer, &self.config.answer),
            (Section::Additional, &self.config.additional),
            (Section::Authority, &self.config.authority),
        ];
        for (section, templates) in sections {
            for rr in templates {
                let text = match rr.template.render(&data) {
                    Ok(text) => text,
                    Err(e) => {
                        FAMILIES
                            .template_failures
                            .get_or_create(&failure(section, rr))
                            .inc();
                        return Decision::Fail(PluginError::failed(
                            NAME,
                            format!("{} template {:?}: {e}", section.label(), rr.source),
                        ));
                    }
                };
                let record = match parse_record(&text) {
                    Ok(record) => record,
                    Err(e) => {
                        FAMILIES
                            .rr_failures
                            .get_or_create(&failure(section, rr))
                            .inc();
                        return Decision::Fail(PluginError::failed(
                            NAME,
                            format!("{} record {text:?}: {e}", section.label()),
                        ));
                    }
                };
                match section {
                    Section::Answer => response.message.answers.push(record),
                    Section::Authority => response.message.authorities.push(record),
                    Section::Additional => response.message.additionals.push(record),
                }
            }
        }
        if let Some((code, reason)) = &self.config.ederror {
            let mut data = code.to_be_bytes().to_vec();
            data.extend_from_slice(reason.as_bytes());
            let mut edns = Edns::new();
            edns.options_mut()
                .insert(EdnsOption::Unknown(EDE_OPTION, data));
            response.message.edns = Some(edns);
        }
        Decision::Reply(response)
    }

    /// CoreDNS looks up the target of a CNAME it templated for an A or AAAA query and
    /// appends what it finds; here the rest of the chain is asked (as `forward` or a
    /// later zone plugin would answer it).
    async fn follow_cnames(&self, ctx: &Ctx, next: Next<'_>, response: &mut Response) {
        if !matches!(ctx.qtype(), RecordType::A | RecordType::AAAA) || next.is_empty() {
            return;
        }
        let answers = std::mem::take(&mut response.message.answers);
        for record in answers {
            let target = match &record.data {
                RData::CNAME(cname) => Some(cname.0.clone()),
                _ => None,
            };
            response.message.answers.push(record);
            let Some(target) = target else {
                continue;
            };
            let mut lookup = ctx.clone();
            let mut query = Query::query(target, ctx.qtype());
            query.set_query_class(ctx.qclass());
            lookup.query = query;
            if let Ok(found) = next.run(&mut lookup).await {
                if found.message.metadata.truncation {
                    response.message.metadata.truncation = true;
                }
                response.message.answers.extend(found.message.answers);
            }
        }
    }
}

impl Plugin for Template {
    fn name(&self) -> &'static str {
        NAME
    }

    fn answers_class(&self, class: DNSClass) -> bool {
        self.config.qclass == DNSClass::ANY || self.config.qclass == class
    }

    fn serve<'a>(
        &'a self,
        ctx: &'a mut Ctx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<Response, PluginError>> {
        Box::pin(async move {
            match self.decide(ctx) {
                Decision::Next => next.run(ctx).await,
                Decision::Fail(error) => Err(error),
                Decision::Reply(mut response) => {
                    self.follow_cnames(ctx, next, &mut response).await;
                    Ok(response)
                }
            }
        })
    }

    /// Decides as [`find`](Self::find) does, on the wire: a query this directive does
    /// not cover passes (for the AAAA filter, every A query, after one comparison);
    /// a query it covers is answered here when the answer is a bare rcode, and goes
    /// the ordinary way when a regex or a record template is involved.
    fn serve_wire(&self, query: &mut WireQuery<'_>, buf: &mut Vec<u8>) -> Wire {
        let qtype = query.qtype();
        // Wire queries are of class IN.
        if !self.class_and_type_match(DNSClass::IN, qtype) {
            return Wire::Pass;
        }
        let Some(zone) = self
            .config
            .wire_zones
            .iter()
            .enumerate()
            .filter(|(_, zone)| zone.start_in(query).is_some())
            .max_by_key(|(_, zone)| zone.label_count())
            .map(|(i, _)| i)
        else {
            return Wire::Pass;
        };
        if !self.matches_all || !self.rcode_only {
            return Wire::Ordinary;
        }
        let rcode = self.config.rcode;
        let mut writer = AnswerWriter::new(query, rcode, true, buf);
        writer.set_flags(false, false);
        if writer.finish(query).is_none() {
            return Wire::Ordinary;
        }
        let (class, rtype) = self.labels_for(DNSClass::IN, qtype);
        let server = query
            .server()
            .map_or_else(|| Label::from(""), |s| Label(s.clone()));
        self.count_match(server, zone, class, rtype);
        Wire::Answered {
            rcode,
            writer: NAME,
        }
    }
}
