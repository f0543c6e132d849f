#!/usr/bin/env bash
# Sync time and memory at cluster scale, with the Kubernetes API source.
#
# The test API server (testkit/apiserver) serves a generated cluster of SERVICES
# services with ENDPOINTS endpoints each (10% headless); clusterdns watches it over
# HTTP on loopback. For each size it prints:
#   - ready: seconds from starting clusterdns to /ready answering 200 (list + sync);
#   - rss: clusterdns's resident memory after the sync (VmRSS), and its peak so far;
#   - relist peak: the highest RSS sampled while a forced relist (410 Gone on every
#     watch) is applied, and the ratio to the RSS after sync;
#   - per object: (rss - rss of an empty cluster) per service and per endpoint.
#
#   benches/cluster-scale.sh [SERVICES] [ENDPOINTS_PER_SERVICE]
#
# Defaults: 10000 services, 10 endpoints each (100,000 endpoints). Needs curl and a
# release build (built here if missing). Only loopback is used.
set -euo pipefail
cd "$(dirname "$0")/.."
SERVICES=${1:-10000}
ENDPOINTS=${2:-10}
API_PORT=${API_PORT:-16443}
DNS_PORT=${DNS_PORT:-15363}
READY_PORT=${READY_PORT:-18191}

target_dir=${CARGO_TARGET_DIR:-target}
cdns="$target_dir/release/clusterdns"
apisrv="$target_dir/release/test-apiserver"
if [ ! -x "$cdns" ] || [ ! -x "$apisrv" ]; then
  cargo build --release --quiet -p clusterdns --bin clusterdns
  cargo build --release --quiet -p clusterdns-test-apiserver --bin test-apiserver
fi
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

cat > "$work/Corefile" <<CF
.:$DNS_PORT {
    bind 127.0.0.1
    ready 127.0.0.1:$READY_PORT
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        endpoint http://127.0.0.1:$API_PORT
    }
}
CF

kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
now() { date +%s.%N; }

# run SERVICES ENDPOINTS: prints "ready_s rss_kib hwm_kib relist_peak_kib"
run() {
  local services=$1 endpoints=$2
  "$apisrv" --listen "127.0.0.1:$API_PORT" --generate-services "$services" \
    --endpoints-per-service "$endpoints" --headless-fraction 0.1 > "$work/api.out" 2> "$work/api.err" &
  local api=$!
  for _ in $(seq 1 600); do grep -q "listening" "$work/api.out" 2>/dev/null && break; sleep 0.1; done
  local start; start=$(now)
  "$cdns" -conf "$work/Corefile" 2> "$work/cdns.err" &
  local dns=$!
  until curl -fs "http://127.0.0.1:$READY_PORT/ready" >/dev/null 2>&1; do
    kill -0 $dns 2>/dev/null || { cat "$work/cdns.err" >&2; exit 1; }
    sleep 0.01
  done
  local ready; ready=$(echo "$(now) - $start" | bc)
  sleep 1
  local rss hwm; rss=$(kib $dns VmRSS); hwm=$(kib $dns VmHWM)
  # Force a relist of every kind and sample RSS while it is applied.
  curl -fs -X POST "http://127.0.0.1:$API_PORT/_test/expire" >/dev/null
  local peak=$rss
  for _ in $(seq 1 300); do
    local r; r=$(kib $dns VmRSS); [ "$r" -gt "$peak" ] && peak=$r
    sleep 0.01
  done
  kill $dns $api; wait $dns $api 2>/dev/null || true
  echo "$ready $rss $hwm $peak"
}

read -r _ base_rss _ _ <<<"$(run 0 0)"
read -r ready rss hwm peak <<<"$(run "$SERVICES" "$ENDPOINTS")"
endpoints_total=$((SERVICES * ENDPOINTS))
echo "cluster: $SERVICES services, $endpoints_total endpoints"
echo "ready after start:      ${ready}s"
echo "rss empty cluster:      $((base_rss / 1024)) MiB"
echo "rss after sync:         $((rss / 1024)) MiB (peak during start: $((hwm / 1024)) MiB)"
echo "rss peak during relist: $((peak / 1024)) MiB ($(echo "scale=2; $peak / $rss" | bc)x after sync)"
echo "per service+its endpoints: $(( (rss - base_rss) * 1024 / SERVICES )) bytes;" \
     "per endpoint (all memory counted on endpoints): $(( (rss - base_rss) * 1024 / (endpoints_total > 0 ? endpoints_total : 1) )) bytes"
