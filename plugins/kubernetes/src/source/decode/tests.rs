use super::*;
use crate::object::{ServiceKind, SlimService};
use crate::test_support::{F0, F1, F2};

fn all() -> Filter {
    Filter {
        kinds: KindSet::of(&Kind::ALL),
        ..Filter::default()
    }
}

fn services(decoded: &Decoded) -> Vec<String> {
    decoded
        .objects
        .iter()
        .filter_map(|o| match o {
            Object::Service(SlimService {
                namespace, name, ..
            }) => Some(format!("{namespace}/{name}")),
            _ => None,
        })
        .collect()
}

const SINGLE: &str = "apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  clusterIP: 10.96.12.5
  clusterIPs: [10.96.12.5, 'fd00:10:96::c05']
  ports:
  - {name: http, port: 80, protocol: TCP}
  - {port: 8443}
";

#[test]
fn reads_a_single_object() {
    let decoded = decode(SINGLE, false, &all()).unwrap();
    assert_eq!(decoded.skipped, 0);
    let [Object::Service(service)] = decoded.objects.as_slice() else {
        panic!("one service expected: {decoded:?}");
    };
    assert_eq!(&*service.namespace, "shop");
    assert_eq!(
        service.kind,
        ServiceKind::ClusterIp(vec![
            "10.96.12.5".parse().unwrap(),
            "fd00:10:96::c05".parse().unwrap()
        ])
    );
    assert_eq!(service.ports.len(), 2);
    assert_eq!(
        (&*service.ports[0].name, &*service.ports[0].protocol),
        ("http", "tcp")
    );
    assert_eq!(
        (&*service.ports[1].name, &*service.ports[1].protocol),
        ("", "tcp")
    );
}

#[test]
fn reads_multi_document_yaml_and_skips_other_kinds() {
    let text = format!(
        "---\n{SINGLE}---\n# only a comment\n---\napiVersion: apps/v1\nkind: Deployment\n\
         metadata: {{name: x}}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: shop}}\n"
    );
    let decoded = decode(&text, false, &all()).unwrap();
    assert_eq!(decoded.objects.len(), 2);
    assert_eq!(decoded.skipped, 1, "the Deployment");
    let f1 = decode(F1, false, &all()).unwrap();
    assert_eq!(services(&f1).len(), 10);
    assert!(f1.objects.iter().any(|o| matches!(o, Object::Pod(_))));
}

#[test]
fn reads_kubectl_lists() {
    let f0 = decode(F0, false, &all()).unwrap();
    assert_eq!(f0.skipped, 0);
    assert_eq!(services(&f0).len(), 12);
    let slices = f0
        .objects
        .iter()
        .filter(|o| matches!(o, Object::EndpointSlice(_)))
        .count();
    assert_eq!(slices, 6);
    let Some(Object::EndpointSlice(web)) = f0
        .objects
        .iter()
        .find(|o| o.key().name.as_ref() == "web-abcde")
    else {
        panic!("web slice");
    };
    assert_eq!(&*web.service, "web");
    assert_eq!(web.endpoints.len(), 3);
    assert!(!web.endpoints[2].ready);
    assert_eq!(web.endpoints[0].hostname.as_deref(), Some("web-0"));
    let Some(Object::EndpointSlice(dns)) = f0
        .objects
        .iter()
        .find(|o| o.key().name.as_ref() == "kube-dns-x7k2p")
    else {
        panic!("kube-dns slice");
    };
    assert_eq!(dns.trigger_time_ms, Some(1_714_557_600_000));
    assert_eq!(dns.endpoints[0].target_pod.as_deref(), Some("coredns-a"));
}

#[test]
fn reads_json_arrays_objects_and_typed_lists() {
    let f2 = decode(F2, true, &all()).unwrap();
    assert_eq!(f2.objects.len(), 2 + 4, "namespace, service, four slices");
    let one = decode(
        r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}}"#,
        false,
        &all(),
    )
    .unwrap();
    assert_eq!(one.objects.len(), 1);
    let list = decode(
        r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}}]}"#,
        true,
        &all(),
    )
    .unwrap();
    assert_eq!(list.objects, one.objects);
}

#[test]
fn errors_name_the_document_and_the_object() {
    let broken = format!("{SINGLE}---\nkind: Service\nmetadata: [oops\n");
    let err = decode(&broken, false, &all()).unwrap_err().to_string();
    assert!(err.starts_with("document 2: invalid YAML:"), "{err}");

    let bad_port = SINGLE.replace("port: 80", "port: eighty");
    let err = decode(&bad_port, false, &all()).unwrap_err().to_string();
    assert!(
        err.starts_with("document 1: Service shop/web: invalid type"),
        "{err}"
    );

    let bad_ip = SINGLE.replace("10.96.12.5,", "10.96.12.500,");
    let err = decode(&bad_ip, false, &all()).unwrap_err().to_string();
    assert_eq!(
        err,
        "document 1: service shop/web: cluster IP \"10.96.12.500\" is not an IP address"
    );

    let err = decode("{\"kind\": ", true, &all()).unwrap_err().to_string();
    assert!(err.starts_with("invalid JSON"), "{err}");
    let err = decode("- just\n- a list\n", false, &all())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "document 1: expected an object with apiVersion and kind"
    );
    let err = decode("apiVersion: v1\nmetadata: {name: x}\n", false, &all())
        .unwrap_err()
        .to_string();
    assert_eq!(err, "document 1: kind is missing");
    let err = decode(
        "apiVersion: discovery.k8s.io/v1beta1\nkind: EndpointSlice\nmetadata: {name: x}\naddressType: IPv4\nendpoints: []\n",
        false,
        &all(),
    )
    .unwrap_err().to_string();
    assert!(err.contains("discovery.k8s.io/v1beta1"), "{err}");
}

#[test]
fn filters_by_kind_and_labels() {
    let filter = Filter {
        kinds: KindSet::of(&[Kind::Service, Kind::Namespace]),
        labels: Some(Selector::parse("k8s-app=kube-dns").unwrap()),
        namespace_labels: Some(
            Selector::parse("kubernetes.io/metadata.name in (prod, default)").unwrap(),
        ),
    };
    let decoded = decode(F0, false, &filter).unwrap();
    let kept: Vec<String> = decoded
        .objects
        .iter()
        .map(|o| o.key().to_string())
        .collect();
    assert_eq!(
        kept,
        [
            "namespace default",
            "namespace prod",
            "service kube-system/kube-dns"
        ]
    );
    assert_eq!(decoded.skipped, 2 + 11 + 6);
}
