#!/usr/bin/env bash
# Memory of the pod map that `pods verified` and `autopath @kubernetes` read: the
# resident size of clusterdns watching PODS running pods from the test API server
# (testkit/apiserver, over HTTP on loopback), against the same server watching none.
# Prints the RSS of both after /ready (VmRSS), the difference, and the difference per
# pod. The figure is quoted in plugins/autopath/README.md.
#
#   benches/pod-map.sh [PODS]
#
# Default: 150000 pods (in 150 namespaces). Needs curl and a release build (built here
# if missing). Only loopback is used.
set -euo pipefail
cd "$(dirname "$0")/.."
PODS=${1:-150000}
API_PORT=${API_PORT:-16453}
DNS_PORT=${DNS_PORT:-15373}
READY_PORT=${READY_PORT:-18193}

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
    autopath @kubernetes
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        endpoint http://127.0.0.1:$API_PORT
        pods verified
    }
}
CF

kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }

# run PODS: prints "rss_kib ready_s"
run() {
  "$apisrv" --listen "127.0.0.1:$API_PORT" --generate-pods "$1" > "$work/api.out" 2> "$work/api.err" &
  local api=$!
  for _ in $(seq 1 1200); do grep -q "listening" "$work/api.out" 2>/dev/null && break; sleep 0.1; done
  local start; start=$(date +%s.%N)
  "$cdns" -conf "$work/Corefile" 2> "$work/cdns.err" &
  local dns=$!
  until curl -fs "http://127.0.0.1:$READY_PORT/ready" >/dev/null 2>&1; do
    kill -0 $dns 2>/dev/null || { cat "$work/cdns.err" >&2; exit 1; }
    sleep 0.01
  done
  local ready; ready=$(echo "$(date +%s.%N) - $start" | bc)
  # Let the allocator settle after the list.
  sleep 1
  echo "$(kib $dns VmRSS) $ready"
  kill $dns $api; wait $dns $api 2>/dev/null || true
}

read -r base _ <<<"$(run 0)"
read -r rss ready <<<"$(run "$PODS")"
echo "pods:                 $PODS"
echo "ready after:          ${ready} s"
echo "rss without pods:     $((base / 1024)) MiB ($base KiB)"
echo "rss with pods:        $((rss / 1024)) MiB ($rss KiB)"
echo "difference:           $(( (rss - base) / 1024 )) MiB"
echo "per pod:              $(( (rss - base) * 1024 / (PODS > 0 ? PODS : 1) )) bytes"
