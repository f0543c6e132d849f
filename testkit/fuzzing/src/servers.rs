//! The servers the targets ask, built once per process over the demo cluster.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use clusterdns::inline::InlineServer;

/// The demo cluster: dual-stack, headless with a not-ready endpoint, ExternalName.
const CLUSTER: &str = include_str!("../../../deploy/demo/cluster.yaml");

/// How many endpoints (of each family) the large headless service `big.fuzz` has:
/// enough that its A, AAAA and SRV answers are truncated at every UDP size.
pub const BIG_ENDPOINTS: usize = 120;

/// Namespace `fuzz` with the headless service `big` of [`BIG_ENDPOINTS`] ready
/// endpoints per family, each with a hostname and a named port.
fn big_cluster() -> String {
    let mut yaml = String::from(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: fuzz\n---\n\
         apiVersion: v1\nkind: Service\nmetadata:\n  name: big\n  namespace: fuzz\n\
         spec:\n  clusterIP: None\n  ports:\n  - name: http\n    port: 80\n    protocol: TCP\n",
    );
    for family in ["IPv4", "IPv6"] {
        yaml.push_str(&format!(
            "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  \
             name: big-{}\n  namespace: fuzz\n  labels:\n    \
             kubernetes.io/service-name: big\naddressType: {family}\nports:\n\
             - name: http\n  port: 80\n  protocol: TCP\nendpoints:\n",
            family.to_lowercase()
        ));
        for i in 0..BIG_ENDPOINTS {
            let address = match family {
                "IPv4" => format!("10.99.{}.{}", i / 250, i % 250 + 1),
                _ => format!("fd00:99::{:x}", i + 1),
            };
            yaml.push_str(&format!(
                "- addresses: [\"{address}\"]\n  hostname: big-{i}\n  conditions:\n    ready: true\n"
            ));
        }
    }
    yaml
}

/// The query plugins of the kubeadm Corefile (no `forward`: nothing leaves the
/// process), `hosts` before the cluster, `whoami` for another zone, and `rewrite` and
/// `template` rules for names under `.test` and `cluster.internal`.
const FULL: &str = "\
.:53 {
    errors
    cache 30
    loadbalance
    rewrite name suffix .cluster.internal. .cluster.local. answer auto
    rewrite continue name regex (.*)\\.alias\\.test\\.$ {1}.svc.cluster.local answer auto
    rewrite ttl suffix tmpl.test. 5-60
    template IN AAAA tmpl.test {
        rcode NOERROR
    }
    template IN A tmpl.test {
        match ^ip-(?P<a>[0-9]+)-(?P<b>[0-9a-f]+)[.]
        answer \"{{ .Name }} 60 IN A 10.0.{{ .Group.a }}.{{ parseInt .Group.b 16 8 }}\"
        additional \"{{ index .Match 1 }}.tmpl.test. 60 IN TXT {{ printf \\\"%q\\\" .Remote }}\"
        fallthrough
    }
    hosts {
        10.0.0.1 node-1.example.test
        fd00::1 node-1.example.test
        fallthrough
    }
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        manifests cluster.yaml big.yaml
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
}
whoami.test:53 {
    whoami
}
";

/// Only the cluster zone, with nothing that shuffles or remembers (no `loadbalance`,
/// no `cache`): the same query gets the same answer on either path. An AAAA filter for
/// one namespace and a rewrite rule for one name are in front of it, so that their
/// wire answers and passes are compared with the ordinary path too.
const CLUSTER_ONLY: &str = "\
cluster.local:53 in-addr.arpa:53 ip6.arpa:53 {
    errors
    rewrite name exact alias.shop.svc.cluster.local. web.shop.svc.cluster.local.
    template IN AAAA data.svc.cluster.local {
        rcode NOERROR
    }
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        manifests cluster.yaml big.yaml
        ttl 30
    }
}
";

/// The runtime the servers' tasks (the manifest poller) run on.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

struct Fixture {
    /// Holds `cluster.yaml`, which the manifest source watches.
    _dir: tempfile::TempDir,
    full: InlineServer,
    cluster: InlineServer,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = runtime();
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("cluster.yaml"), CLUSTER).expect("cluster.yaml is written");
        std::fs::write(dir.path().join("big.yaml"), big_cluster()).expect("big.yaml is written");
        let start = |corefile: &str| {
            let _entered = runtime.enter();
            InlineServer::start(corefile, dir.path(), Duration::from_secs(30))
                .unwrap_or_else(|error| panic!("{error}\n{corefile}"))
        };
        Fixture {
            full: start(FULL),
            cluster: start(CLUSTER_ONLY),
            _dir: dir,
        }
    })
}

/// The full chain.
pub(crate) fn full() -> &'static InlineServer {
    &fixture().full
}

/// The cluster zone alone.
pub(crate) fn cluster() -> &'static InlineServer {
    &fixture().cluster
}

/// A directory with nothing in it, for Corefiles to import from.
pub(crate) fn empty_dir() -> &'static Path {
    static EMPTY: OnceLock<tempfile::TempDir> = OnceLock::new();
    EMPTY
        .get_or_init(|| tempfile::tempdir().expect("a temporary directory"))
        .path()
}
