#!/usr/bin/env bash
# autopath as a pod sees it: how many queries one lookup of an external name costs,
# and how long glibc takes for it, with and without `autopath @kubernetes`.
#
# A network namespace is the pod (10.244.99.2, namespace `default`) with the kubelet's
# resolv.conf (the three cluster search domains, ndots:5). clusterdns answers it on the
# other end of a veth (10.244.99.1:53) with kubeadm's chain and the pod read from a
# manifest; names outside the cluster go to a second clusterdns on loopback that holds
# `www.example.test` (A 192.0.2.7, no AAAA). The pod runs `getent ahosts
# www.example.test` (A and AAAA, as most programs ask) LOOKUPS times; for each chain
# the script prints the queries clusterdns received per lookup (its
# coredns_dns_requests_total) and the mean time of one getent run.
#
#   sudo benches/autopath.sh [LOOKUPS]
#
# Default: 200 lookups. Needs root (ip netns), getent, curl, bc and a release build
# (built here if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
LOOKUPS=${1:-200}
UP_PORT=${UP_PORT:-15383}
PROM_PORT=${PROM_PORT:-19163}
READY_PORT=${READY_PORT:-18195}
source benches/common.sh

ns="cdnsap$$"
host_if="aph$$"
pod_if="app$$"
cleanup_net() {
  ip netns del "$ns" 2>/dev/null || true
  ip link del "$host_if" 2>/dev/null || true
  rm -rf "/etc/netns/$ns"
}
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; cleanup_net; rm -rf "$work"' EXIT

ip netns add "$ns"
ip link add "$host_if" type veth peer name "$pod_if"
ip link set "$pod_if" netns "$ns"
ip addr add 10.244.99.1/24 dev "$host_if"
ip link set "$host_if" up
ip netns exec "$ns" ip addr add 10.244.99.2/24 dev "$pod_if"
ip netns exec "$ns" ip link set "$pod_if" up
ip netns exec "$ns" ip link set lo up
mkdir -p "/etc/netns/$ns"
cat > "/etc/netns/$ns/resolv.conf" <<RC
nameserver 10.244.99.1
search default.svc.cluster.local svc.cluster.local cluster.local
options ndots:5
RC
printf '127.0.0.1 localhost\n' > "/etc/netns/$ns/hosts"

cat > "$work/upstream.Corefile" <<CF
example.test:$UP_PORT {
    bind 127.0.0.1
    hosts {
        192.0.2.7 www.example.test
    }
}
CF
"$bin" -conf "$work/upstream.Corefile" 2> "$work/upstream.err" &
wait_for "$UP_PORT" www.example.test

cat > "$work/cluster.yaml" <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: default}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default}
spec:
  containers: [{name: c, image: busybox}]
status:
  phase: Running
  podIP: 10.244.99.2
YAML

# corefile AUTOPATH_LINE: kubeadm's chain on the veth, with AUTOPATH_LINE added
corefile() {
  cat <<CF
.:53 {
    bind 10.244.99.1
    errors
    ready 127.0.0.1:$READY_PORT
    $1
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       manifests $work/cluster.yaml
       pods verified
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus 127.0.0.1:$PROM_PORT
    forward . 127.0.0.1:$UP_PORT
    cache 30
    loop
    loadbalance
}
CF
}

requests() {
  curl -fs "http://127.0.0.1:$PROM_PORT/metrics" |
    awk '/^coredns_dns_requests_total\{/ {s += $NF} END {printf "%d\n", s}'
}

# measure LABEL AUTOPATH_LINE: prints "LABEL queries_per_lookup ms_per_lookup"
measure() {
  corefile "$2" > "$work/Corefile"
  "$bin" -conf "$work/Corefile" 2> "$work/cdns.err" &
  local dns=$!
  until curl -fs "http://127.0.0.1:$READY_PORT/ready" >/dev/null 2>&1; do
    kill -0 $dns 2>/dev/null || { cat "$work/cdns.err" >&2; exit 1; }
    sleep 0.05
  done
  # The first lookups may race the new link coming up.
  local answer=""
  for _ in $(seq 50); do
    answer=$(ip netns exec "$ns" getent ahosts www.example.test | awk 'NR == 1 {print $1}' || true)
    [ "$answer" = 192.0.2.7 ] && break
    sleep 0.1
  done
  if [ "$answer" != 192.0.2.7 ]; then
    echo "the pod got '$answer' for www.example.test" >&2
    ip netns exec "$ns" dig +search www.example.test >&2 || true
    cat "$work/cdns.err" >&2
    exit 1
  fi
  local before after t0 t1
  before=$(requests)
  t0=$(date +%s.%N)
  ip netns exec "$ns" sh -c "for i in \$(seq $LOOKUPS); do getent ahosts www.example.test >/dev/null; done"
  t1=$(date +%s.%N)
  after=$(requests)
  echo "$1 $(echo "scale=2; ($after - $before) / $LOOKUPS" | bc) $(echo "scale=3; ($t1 - $t0) * 1000 / $LOOKUPS" | bc)"
  kill $dns; wait $dns 2>/dev/null || true
}

read -r _ plain_q plain_ms <<<"$(measure plain "")"
read -r _ auto_q auto_ms <<<"$(measure autopath "autopath @kubernetes")"
echo "lookups of www.example.test from the pod: $LOOKUPS (getent ahosts, ndots:5, 3 search domains)"
echo "without autopath: $plain_q queries per lookup, $plain_ms ms per lookup"
echo "with autopath:    $auto_q queries per lookup, $auto_ms ms per lookup"
