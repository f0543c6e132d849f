//! Server blocks behind one listener, and how a query finds its block.

use std::sync::Arc;

use clusterdns_api::Plugin;
use clusterdns_api::metrics::Label;
use clusterdns_api::wire::{WireName, WireQuery};
use hickory_proto::rr::Name;

/// One server block, built: its zones and its plugin chain in execution order.
pub struct Block {
    /// The block's zones, lower case and fully qualified.
    pub zones: Vec<Name>,
    /// The plugins that take part in answering, in the fixed order of the registry.
    pub chain: Vec<Arc<dyn Plugin>>,
    /// Whether the block records CoreDNS's per-query metrics (`prometheus`).
    pub metrics: bool,
    /// The UDP payload size the block accepts and advertises (`bufsize`; 1232
    /// without it).
    pub udp_payload: u16,
}

/// A zone and the block that serves it.
struct Route {
    zone: Name,
    /// The zone for matching on the wire path.
    wire: WireName,
    label: Label,
    block: Arc<Block>,
}

/// The blocks of one listener, searchable by longest zone match.
pub struct Routes {
    /// Sorted by number of labels, most first, so the first match is the longest.
    routes: Vec<Route>,
}

/// The block a query goes to, and the zone label for metrics.
pub struct Matched<'a> {
    /// The block.
    pub block: &'a Arc<Block>,
    /// The zone of the block that matched, as a metrics label (`cluster.local.`).
    pub zone: &'a Label,
}

impl Routes {
    /// Routes for `blocks`. Each zone must appear in at most one block (checked when
    /// the configuration is built).
    pub fn new(blocks: &[Arc<Block>]) -> Self {
        let mut routes: Vec<Route> = blocks
            .iter()
            .flat_map(|block| {
                block.zones.iter().map(move |zone| Route {
                    zone: zone.clone(),
                    wire: WireName::new(zone),
                    label: Label::from(zone.to_string().as_str()),
                    block: block.clone(),
                })
            })
            .collect();
        routes.sort_by_key(|route| std::cmp::Reverse(route.zone.num_labels()));
        Self { routes }
    }

    /// The block whose zone is the longest suffix of `name` (case-insensitive), if any.
    pub fn find(&self, name: &Name) -> Option<Matched<'_>> {
        self.routes
            .iter()
            .find(|route| route.zone.zone_of(name))
            .map(|route| Matched {
                block: &route.block,
                zone: &route.label,
            })
    }

    /// [`find`](Self::find) for a query on the wire path.
    pub fn find_wire(&self, query: &WireQuery<'_>) -> Option<Matched<'_>> {
        self.routes
            .iter()
            .find(|route| route.wire.start_in(query).is_some())
            .map(|route| Matched {
                block: &route.block,
                zone: &route.label,
            })
    }

    /// Every block, once each.
    pub fn blocks(&self) -> Vec<Arc<Block>> {
        let mut blocks: Vec<Arc<Block>> = Vec::new();
        for route in &self.routes {
            if !blocks.iter().any(|b| Arc::ptr_eq(b, &route.block)) {
                blocks.push(route.block.clone());
            }
        }
        blocks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(zones: &[&str]) -> Arc<Block> {
        Arc::new(Block {
            udp_payload: clusterdns_api::wire::MAX_UDP_PAYLOAD,
            zones: zones.iter().map(|z| Name::from_ascii(z).unwrap()).collect(),
            chain: Vec::new(),
            metrics: false,
        })
    }

    #[test]
    fn longest_zone_wins() {
        let root = block(&["."]);
        let cluster = block(&["cluster.local.", "in-addr.arpa."]);
        let routes = Routes::new(&[root.clone(), cluster.clone()]);
        let name = |n: &str| Name::from_ascii(n).unwrap();
        let hit = routes
            .find(&name("Web.Default.SVC.Cluster.Local."))
            .unwrap();
        assert!(Arc::ptr_eq(hit.block, &cluster));
        assert_eq!(&*hit.zone.0, "cluster.local.");
        assert!(Arc::ptr_eq(
            routes.find(&name("example.org.")).unwrap().block,
            &root
        ));
        let packet = |n: &str| {
            let mut message = hickory_proto::op::Message::new(
                1,
                hickory_proto::op::MessageType::Query,
                hickory_proto::op::OpCode::Query,
            );
            message.add_query(hickory_proto::op::Query::query(
                name(n),
                hickory_proto::rr::RecordType::A,
            ));
            message.to_vec().unwrap()
        };
        let bytes = packet("Web.Default.SVC.Cluster.Local.");
        let query = WireQuery::parse(&bytes, true).unwrap();
        assert!(Arc::ptr_eq(
            routes.find_wire(&query).unwrap().block,
            &cluster
        ));
        let bytes = packet("local.");
        let query = WireQuery::parse(&bytes, true).unwrap();
        assert!(Arc::ptr_eq(routes.find_wire(&query).unwrap().block, &root));
        let only_cluster = Routes::new(&[cluster]);
        assert!(only_cluster.find_wire(&query).is_none());
        assert!(only_cluster.find(&name("example.org.")).is_none());
        assert_eq!(routes.blocks().len(), 2);
    }
}
