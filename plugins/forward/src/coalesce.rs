//! Coalescing: identical questions in flight to the upstreams are sent once, and every
//! client asking meanwhile gets that answer.
//!
//! A burst of the same name (every pod of a Deployment starting at once, a search-path
//! NXDOMAIN storm, a retrying client) would otherwise cost one upstream query each, and
//! cloud resolvers limit packets per second per node. Questions are the same when their
//! name (any case), type, class, the bits that change an upstream's answer (RD, DO,
//! CD), the EDNS options sent upstream (two client subnets, as `rewrite edns0 subnet`
//! sets them, may get two answers) and the transport are; each waiter's answer then
//! gets its own ID (in the plugin) and its own question, in its own case
//! ([`personalise`]). A query whose options are longer than [`MAX_KEYED_OPTIONS`] is
//! not coalesced, so that the table stays small.
//!
//! The first asker leads: it resolves and hands its result to the others. If it is
//! cancelled (its client's query was shed), the waiters' channels close and each of
//! them resolves on its own. The table holds one entry per distinct question in flight,
//! at most [`MAX_QUESTIONS`]; beyond it questions are not coalesced.

use std::collections::HashMap;
use std::sync::Arc;

use clusterdns_api::Ctx;
use clusterdns_api::Protocol;
use clusterdns_api::proto::op::Message;
use clusterdns_api::proto::rr::{DNSClass, Name, RecordType};
use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::errors::ForwardError;

/// Distinct questions in flight that can be waited on at once.
pub(crate) const MAX_QUESTIONS: usize = 10_000;
/// Waiters on one question; beyond it a query resolves on its own.
const MAX_WAITERS: usize = 1_000;
/// The longest EDNS options (in wire form) a key holds: a client subnet, a few local
/// options. Queries with more are resolved on their own.
pub(crate) const MAX_KEYED_OPTIONS: usize = 256;

/// What a leader hands to its waiters.
pub(crate) type Shared = Result<Message, Arc<ForwardError>>;

/// What makes two queries the same to an upstream.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub(crate) struct Key {
    name: Name,
    qtype: RecordType,
    qclass: DNSClass,
    recursion_desired: bool,
    dnssec_ok: bool,
    checking_disabled: bool,
    tcp: bool,
    /// The EDNS options sent upstream, in wire form.
    options: Vec<u8>,
}

impl Key {
    /// The key of `ctx`'s question sent over `proto` with EDNS `options` (in wire
    /// form), or `None` when the options are too long to be kept.
    pub(crate) fn new(ctx: &Ctx, proto: Protocol, options: &[u8]) -> Option<Self> {
        if options.len() > MAX_KEYED_OPTIONS {
            return None;
        }
        Some(Self {
            name: ctx.query.name().to_lowercase(),
            qtype: ctx.query.query_type(),
            qclass: ctx.query.query_class(),
            recursion_desired: ctx.metadata.recursion_desired,
            dnssec_ok: ctx.dnssec_ok(),
            checking_disabled: ctx.metadata.checking_disabled,
            tcp: proto == Protocol::Tcp,
            options: options.to_vec(),
        })
    }
}

/// The questions in flight and who waits for them.
#[derive(Debug, Default)]
pub(crate) struct Coalescer {
    waiting: Mutex<HashMap<Key, Vec<oneshot::Sender<Shared>>>>,
}

/// A query's part in its question's resolution.
pub(crate) enum Role<'a> {
    /// Resolve, then [`Lead::finish`].
    Lead(Lead<'a>),
    /// Wait for the leader's result; an error means it was cancelled.
    Follow(oneshot::Receiver<Shared>),
    /// Resolve alone (the table is full).
    Alone,
}

impl Coalescer {
    /// Joins `key`'s resolution in flight, or starts one.
    pub(crate) fn join(&self, key: Key) -> Role<'_> {
        let mut waiting = self.waiting.lock();
        if let Some(waiters) = waiting.get_mut(&key) {
            if waiters.len() >= MAX_WAITERS {
                return Role::Alone;
            }
            let (sender, receiver) = oneshot::channel();
            waiters.push(sender);
            return Role::Follow(receiver);
        }
        if waiting.len() >= MAX_QUESTIONS {
            return Role::Alone;
        }
        waiting.insert(key.clone(), Vec::new());
        Role::Lead(Lead {
            coalescer: self,
            key: Some(key),
        })
    }
}

/// The leader's hold on its question's entry; dropped without [`Lead::finish`] (the
/// leader was cancelled), it closes the waiters' channels.
pub(crate) struct Lead<'a> {
    coalescer: &'a Coalescer,
    key: Option<Key>,
}

impl Lead<'_> {
    /// Hands `result` to every waiter; how many there were.
    pub(crate) fn finish(mut self, result: &Shared) -> usize {
        let waiters = self
            .key
            .take()
            .and_then(|key| self.coalescer.waiting.lock().remove(&key))
            .unwrap_or_default();
        let count = waiters.len();
        for waiter in waiters {
            let _ = waiter.send(result.clone());
        }
        count
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.coalescer.waiting.lock().remove(&key);
        }
    }
}

/// `reply` (another query's answer to the same question) as the answer to `ctx`: its
/// question and the records owned by the question's name in `ctx`'s case.
pub(crate) fn personalise(mut reply: Message, ctx: &Ctx) -> Message {
    // `Name`s compare without regard to case.
    let asked = ctx.query.name();
    for query in &mut reply.queries {
        if query.name() == asked {
            query.set_name(asked.clone());
        }
    }
    for record in reply.answers.iter_mut().chain(reply.authorities.iter_mut()) {
        if record.name == *asked {
            record.name = asked.clone();
        }
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusterdns_api::proto::op::Query;
    use std::net::SocketAddr;
    use std::str::FromStr;

    fn ctx(name: &str) -> Ctx {
        let src: SocketAddr = "10.0.0.1:5353".parse().unwrap();
        Ctx::new(
            Query::query(Name::from_str(name).unwrap(), RecordType::A),
            src,
            Protocol::Udp,
        )
    }

    #[test]
    fn the_same_question_in_any_case_is_one_key() {
        assert_eq!(
            Key::new(&ctx("Example.ORG."), Protocol::Udp, &[]),
            Key::new(&ctx("example.org."), Protocol::Udp, &[])
        );
        assert_ne!(
            Key::new(&ctx("example.org."), Protocol::Udp, &[]),
            Key::new(&ctx("example.org."), Protocol::Tcp, &[])
        );
        let mut cd = ctx("example.org.");
        cd.metadata.checking_disabled = true;
        assert_ne!(
            Key::new(&cd, Protocol::Udp, &[]),
            Key::new(&ctx("example.org."), Protocol::Udp, &[])
        );
    }

    #[test]
    fn questions_with_other_edns_options_are_other_keys() {
        let q = ctx("example.org.");
        // Two client subnets (code 8, family 1, /24), and no option at all.
        let subnet_a = [0, 8, 0, 7, 0, 1, 24, 0, 10, 0, 1];
        let subnet_b = [0, 8, 0, 7, 0, 1, 24, 0, 10, 0, 2];
        let a = Key::new(&q, Protocol::Udp, &subnet_a).unwrap();
        assert_eq!(a, Key::new(&q, Protocol::Udp, &subnet_a).unwrap());
        assert_ne!(a, Key::new(&q, Protocol::Udp, &subnet_b).unwrap());
        assert_ne!(a, Key::new(&q, Protocol::Udp, &[]).unwrap());
        // Options too long to keep: not coalesced at all.
        assert!(Key::new(&q, Protocol::Udp, &vec![0; MAX_KEYED_OPTIONS + 1]).is_none());
        assert!(Key::new(&q, Protocol::Udp, &vec![0; MAX_KEYED_OPTIONS]).is_some());
    }

    #[tokio::test]
    async fn waiters_get_the_leaders_result_and_a_cancelled_leader_frees_them() {
        let coalescer = Coalescer::default();
        let key = Key::new(&ctx("example.org."), Protocol::Udp, &[]).unwrap();
        let Role::Lead(lead) = coalescer.join(key.clone()) else {
            panic!("the first query leads");
        };
        let Role::Follow(follower) = coalescer.join(key.clone()) else {
            panic!("the second follows");
        };
        let mut reply = Message::query();
        reply.metadata.id = 7;
        assert_eq!(lead.finish(&Ok(reply)), 1);
        assert_eq!(follower.await.unwrap().unwrap().metadata.id, 7);

        let Role::Lead(lead) = coalescer.join(key.clone()) else {
            panic!("a new resolution after the last finished");
        };
        let Role::Follow(follower) = coalescer.join(key.clone()) else {
            panic!("follows");
        };
        drop(lead);
        assert!(follower.await.is_err(), "the leader was cancelled");
        assert!(matches!(coalescer.join(key), Role::Lead(_)));
    }
}
