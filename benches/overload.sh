#!/usr/bin/env bash
# Overload and upstream protection, on loopback:
#
# 1. Cluster names while a flood of external names hits a dead upstream: the p50/p99
#    latency of a cluster name (asked 500 times a second) without and during a dnsperf
#    flood of distinct external names at FLOOD_QPS, forwarded to an upstream that never
#    answers; the server's RSS during the flood, coredns_shed_dropped_total, /ready's
#    latency, and the cluster-name latency right after the flood.
# 2. Coalescing: a burst of one name (dnsperf, 2 s at BURST_QPS) forwarded to an upstream
#    that answers after 50 ms: upstream queries per client query, for this build and,
#    with BASELINE=path/to/another/clusterdns, for that one (e.g. a build of main).
#
#   benches/overload.sh [FLOOD_SECONDS=30] [FLOOD_QPS=20000] [BURST_QPS=5000]
#   benches/overload.sh --smoke          # 2 s flood at 2,000 qps, 1 s burst
#
# Needs dnsperf, curl, python3, a release build (built if missing). CPU_SERVER (default
# 0) and CPU_CLIENT (default 1) pin the server and dnsperf.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/common.sh
if [ "${1:-}" = --smoke ]; then
  SECONDS_FLOOD=2 FLOOD_QPS=2000 BURST_QPS=1000 BURST_SECONDS=1
else
  SECONDS_FLOOD=${1:-30} FLOOD_QPS=${2:-20000} BURST_QPS=${3:-5000} BURST_SECONDS=2
fi
CPU_SERVER=${CPU_SERVER:-0}
CPU_CLIENT=${CPU_CLIENT:-1}
DNS_PORT=${DNS_PORT:-15473}
UP_PORT=${UP_PORT:-15474}
READY_PORT=${READY_PORT:-18391}
METRICS_PORT=${METRICS_PORT:-19393}
cp deploy/demo/cluster.yaml "$work/cluster.yaml"
cluster_name=kubernetes.default.svc.cluster.local

# start_server BINARY DELAY_MS: the upstream (DELAY_MS < 0: never answers) and the
# server on one core; sets server_pid, upstream_pid.
start_server() {
  echo 0 > "$work/upstream.count"
  python3 benches/overload.py upstream "$UP_PORT" "$2" "$work/upstream.count" &
  upstream_pid=$!
  cat > "$work/Corefile" <<COREFILE
.:$DNS_PORT {
    bind 127.0.0.1
    ready 127.0.0.1:$READY_PORT
    prometheus 127.0.0.1:$METRICS_PORT
    kubernetes cluster.local {
        manifests $work/cluster.yaml
    }
    forward . 127.0.0.1:$UP_PORT
}
COREFILE
  taskset -c "$CPU_SERVER" "$1" -conf "$work/Corefile" --udp-workers 1 2> "$work/server.log" &
  server_pid=$!
  wait_for "$DNS_PORT" "$cluster_name"
}

stop_server() {
  kill "$server_pid" "$upstream_pid" 2>/dev/null || true
  wait "$server_pid" "$upstream_pid" 2>/dev/null || true
}

metric() { curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | awk -v m="$1" 'index($0, m) == 1 { s += $NF } END { print s + 0 }'; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

echo "## 1. cluster names during a flood of external names to a dead upstream"
start_server "$bin" -1
read -r sent lost p50 p99 max < <(python3 benches/overload.py probe "$DNS_PORT" "$cluster_name" 500 3)
echo "without flood: cluster name p50 ${p50} ms, p99 ${p99} ms, max ${max} ms ($lost/$sent lost); RSS $(rss_kib "$server_pid") KiB"
python3 -c "
import random
for i in range(200000):
    print('x%d-%d.example.org A' % (i, random.randrange(1 << 30)))" > "$work/flood.txt"
taskset -c "$CPU_CLIENT" dnsperf -s 127.0.0.1 -p "$DNS_PORT" -d "$work/flood.txt" -Q "$FLOOD_QPS" \
  -l "$SECONDS_FLOOD" -c 8 -T 2 -q 50000 -t 2 > "$work/flood.out" 2>&1 &
flood_pid=$!
sleep 1
peak=0
( while kill -0 "$flood_pid" 2>/dev/null; do rss_kib "$server_pid" >> "$work/rss"; sleep 0.5; done ) &
probe_seconds=$(( SECONDS_FLOOD > 4 ? SECONDS_FLOOD - 3 : 1 ))
read -r sent lost p50 p99 max < <(python3 benches/overload.py probe "$DNS_PORT" "$cluster_name" 500 "$probe_seconds")
ready_ms=$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$READY_PORT/ready" | awk '{printf "%.1f", $1 * 1000}')
wait "$flood_pid" || true
peak=$(sort -n "$work/rss" | tail -1)
sent_flood=$(awk '/Queries sent/ {print $3}' "$work/flood.out")
echo "during a flood asked at $FLOOD_QPS qps (dnsperf sent $sent_flood, $((sent_flood / SECONDS_FLOOD)) qps): cluster name p50 ${p50} ms, p99 ${p99} ms, max ${max} ms ($lost/$sent lost); /ready ${ready_ms} ms; peak RSS ${peak} KiB"
echo "shed (coredns_shed_dropped_total): $(metric coredns_shed_dropped_total); upstream got $(cat "$work/upstream.count") queries"
read -r sent lost p50 p99 max < <(python3 benches/overload.py probe "$DNS_PORT" "$cluster_name" 500 2)
echo "right after: cluster name p50 ${p50} ms, p99 ${p99} ms ($lost/$sent lost)"
stop_server

echo "## 2. a burst of one name, upstream answering after 50 ms"
printf 'burst.example.org A\n' > "$work/burst.txt"
for build in "$bin" ${BASELINE:-}; do
  start_server "$build" 50
  taskset -c "$CPU_CLIENT" dnsperf -s 127.0.0.1 -p "$DNS_PORT" -d "$work/burst.txt" -Q "$BURST_QPS" \
    -l "$BURST_SECONDS" -t 2 > "$work/burst.out" 2>&1 || true
  sleep 0.5
  client=$(awk '/Queries completed/ {print $3}' "$work/burst.out")
  upstream=$(cat "$work/upstream.count")
  echo "$build: $client client queries answered, $upstream upstream queries: $(awk -v u="$upstream" -v c="$client" 'BEGIN { printf "%.4f", (c > 0 ? u / c : 0) }') upstream queries per client query"
  stop_server
done
