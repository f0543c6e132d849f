#!/usr/bin/env bash
# The API source through API server outages: how fast DNS catches up when the API
# server comes back, and how hard a failing API server is asked meanwhile.
#
#   benches/api-outage.sh [RESTARTS=20] [OUTAGE_SECONDS=600]
#   benches/api-outage.sh --smoke        # 2 restarts of 1-2 s, a 5 s outage: seconds
#
# env: MIN_DOWN=5 MAX_DOWN=60 (seconds each restart keeps the API down, uniform),
#      API_PORT=16543 ADMIN_PORT=16544 DNS_PORT=15463 READY_PORT=18291,
#      PROFILE=release (or debug: the binaries of `cargo build`, for a smoke run)
#
# The test API server (testkit/apiserver, `test-apiserver --admin-listen`) serves a
# small cluster; clusterdns watches it with `pods verified` (four kinds).
#
# 1. Restarts. RESTARTS times: the API goes down (`POST /_test/down`: connections
#    refused, watches cut) for a random MIN_DOWN..MAX_DOWN seconds; meanwhile a change
#    of every kind is made (a Service in a new Namespace, the previous round's Service
#    deleted, a headless service's EndpointSlice moved to a new address, a new Pod);
#    then it comes back (`POST /_test/up`) and the script asks until every change is
#    answered. Prints each restart's down time and catch-up time (API back → last
#    change visible), then the worst and the median.
# 2. A long outage. Every API request answers HTTP 500 and history is compacted (so
#    every kind must list again) for OUTAGE_SECONDS; prints the requests each kind
#    sent, lists and watches, and lists per minute.
#
# A full run takes about 25 minutes (20 restarts: about 14; the outage: 10). Needs
# kdig, curl, python3 and a release build of clusterdns and test-apiserver (built here if
# missing). Only loopback is used.
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE=0
if [ "${1:-}" = "--smoke" ]; then
  SMOKE=1
  shift
fi
if [ "$SMOKE" = 1 ]; then
  RESTARTS=2 OUTAGE=5 MIN_DOWN=1 MAX_DOWN=2
else
  RESTARTS=${1:-20}
  OUTAGE=${2:-600}
  MIN_DOWN=${MIN_DOWN:-5}
  MAX_DOWN=${MAX_DOWN:-60}
fi
API_PORT=${API_PORT:-16543}
ADMIN_PORT=${ADMIN_PORT:-16544}
DNS_PORT=${DNS_PORT:-15463}
READY_PORT=${READY_PORT:-18291}

target_dir=${CARGO_TARGET_DIR:-target}
PROFILE=${PROFILE:-release}
cdns="$target_dir/$PROFILE/clusterdns"
apisrv="$target_dir/$PROFILE/test-apiserver"
if [ ! -x "$cdns" ] || [ ! -x "$apisrv" ]; then
  flag=--release
  [ "$PROFILE" = release ] || flag=
  cargo build $flag --quiet -p clusterdns --bin clusterdns
  cargo build $flag --quiet -p clusterdns-test-apiserver --bin test-apiserver
fi
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

# An empty RUST_LOG would mean "errors only": leave the server its default filter.
[ -n "${RUST_LOG:-}" ] || unset RUST_LOG
admin="http://127.0.0.1:$ADMIN_PORT/_test"
now() { date +%s.%N; }
post() { curl -fsS -X POST "$admin/$1" "${@:2}" >/dev/null; }
apply() { curl -fsS -X POST --data-binary @- "$admin/apply" >/dev/null; }

# answer NAME: the sorted A records of NAME, or the rcode when there are none
answer() {
  local out
  out=$(kdig +timeout=1 +retry=0 @127.0.0.1 -p "$DNS_PORT" "$1" A 2>/dev/null || true)
  local records
  records=$(echo "$out" | awk '$1 !~ /^;/ && $4 == "A" {print $5}' | sort | tr '\n' ' ')
  if [ -n "$records" ]; then
    echo "${records% }"
  else
    echo "$out" | awk -F'status: ' '/status:/ {split($2, a, ";"); print a[1]}'
  fi
}

cat > "$work/cluster.yaml" <<'YAML'
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: default}}
- apiVersion: v1
  kind: Service
  metadata: {name: web, namespace: default}
  spec: {clusterIP: 10.96.0.20, clusterIPs: [10.96.0.20], ports: [{name: http, port: 80, protocol: TCP}]}
- apiVersion: v1
  kind: Service
  metadata: {name: hl, namespace: default}
  spec: {clusterIP: None, clusterIPs: [None], ports: [{name: http, port: 80, protocol: TCP}]}
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: hl-1, namespace: default, labels: {kubernetes.io/service-name: hl}}
  addressType: IPv4
  endpoints: [{addresses: [10.250.0.1], conditions: {ready: true}}]
  ports: [{name: http, port: 80, protocol: TCP}]
YAML

cat > "$work/Corefile" <<CF
.:$DNS_PORT {
    bind 127.0.0.1
    ready 127.0.0.1:$READY_PORT
    kubernetes cluster.local {
        endpoint http://127.0.0.1:$API_PORT
        pods verified
        ttl 0
    }
}
CF

"$apisrv" --listen "127.0.0.1:$API_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" \
  --load "$work/cluster.yaml" > "$work/api.out" 2> "$work/api.err" &
for _ in $(seq 1 300); do grep -q "listening" "$work/api.out" 2>/dev/null && break; sleep 0.1; done
"$cdns" -conf "$work/Corefile" 2> "$work/cdns.err" &
dns=$!
for _ in $(seq 1 600); do
  curl -fs "http://127.0.0.1:$READY_PORT/ready" >/dev/null 2>&1 && break
  kill -0 $dns 2>/dev/null || { cat "$work/cdns.err" >&2; exit 1; }
  sleep 0.05
done
got=$(answer web.default.svc.cluster.local)
[ "$got" = "10.96.0.20" ] || { echo "not synced: $got" >&2; cat "$work/cdns.err" "$work/api.err" >&2; exit 1; }

echo "# restarts: $RESTARTS, down ${MIN_DOWN}-${MAX_DOWN} s each"
printf '%-8s %-8s %-10s\n' restart down_s catch_up_s
: > "$work/catch_up"
for i in $(seq 1 "$RESTARTS"); do
  down=$(awk -v a="$MIN_DOWN" -v b="$MAX_DOWN" -v s="$RANDOM" 'BEGIN { srand(s); printf "%.1f", a + rand() * (b - a) }')
  post down
  t_down=$(now)
  sleep 0.5
  apply <<YAML
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: ns-$i}}
- apiVersion: v1
  kind: Service
  metadata: {name: svc-$i, namespace: ns-$i}
  spec: {clusterIP: 10.97.$i.1, clusterIPs: [10.97.$i.1]}
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: hl-1, namespace: default, labels: {kubernetes.io/service-name: hl}}
  addressType: IPv4
  endpoints: [{addresses: [10.250.$i.1], conditions: {ready: true}}]
  ports: [{name: http, port: 80, protocol: TCP}]
- apiVersion: v1
  kind: Pod
  metadata: {name: pod-$i, namespace: default}
  status: {phase: Running, podIP: 10.251.$i.1, podIPs: [{ip: 10.251.$i.1}]}
YAML
  if [ "$i" -gt 1 ]; then
    curl -fsS -X DELETE "$admin/objects/Service/ns-$((i - 1))/svc-$((i - 1))" >/dev/null
  fi
  rest=$(awk -v d="$down" -v t0="$t_down" -v t1="$(now)" 'BEGIN { r = d - (t1 - t0); print (r > 0 ? r : 0) }')
  sleep "$rest"
  post up
  t_up=$(now)
  # Until every change is answered (or 120 s).
  while :; do
    ok=1
    [ "$(answer "svc-$i.ns-$i.svc.cluster.local")" = "10.97.$i.1" ] || ok=0
    [ "$ok" = 1 ] && { [ "$(answer hl.default.svc.cluster.local)" = "10.250.$i.1" ] || ok=0; }
    [ "$ok" = 1 ] && { [ "$(answer "10-251-$i-1.default.pod.cluster.local")" = "10.251.$i.1" ] || ok=0; }
    if [ "$ok" = 1 ] && [ "$i" -gt 1 ]; then
      [ "$(answer "svc-$((i - 1)).ns-$((i - 1)).svc.cluster.local")" = "NXDOMAIN" ] || ok=0
    fi
    [ "$ok" = 1 ] && break
    if awk -v t0="$t_up" -v t1="$(now)" 'BEGIN { exit !(t1 - t0 > 120) }'; then
      echo "restart $i: changes not visible 120 s after the API came back:" \
        "svc-$i=$(answer "svc-$i.ns-$i.svc.cluster.local")" \
        "hl=$(answer hl.default.svc.cluster.local)" \
        "pod=$(answer "10-251-$i-1.default.pod.cluster.local")" \
        "svc-$((i - 1))=$(answer "svc-$((i - 1)).ns-$((i - 1)).svc.cluster.local")" >&2
      tail -20 "$work/cdns.err" >&2
      exit 1
    fi
    sleep 0.05
  done
  catch_up=$(awk -v t0="$t_up" -v t1="$(now)" 'BEGIN { printf "%.2f", t1 - t0 }')
  echo "$catch_up" >> "$work/catch_up"
  printf '%-8s %-8s %-10s\n' "$i" "$down" "$catch_up"
done
sort -n "$work/catch_up" | awk '{ v[NR] = $1 } END {
  m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
  printf "catch-up after the API returns: worst %.2f s, median %.2f s (%d restarts)\n", v[NR], m, NR }'

echo "# a ${OUTAGE} s outage: every request answers HTTP 500, history compacted"
post "fault?code=500"
curl -fsS -X DELETE "$admin/requests" >/dev/null
post expire
sleep "$OUTAGE"
curl -fsS "$admin/requests" > "$work/requests.json"
curl -fsS -X DELETE "$admin/fault" >/dev/null
python3 - "$work/requests.json" "$OUTAGE" <<'PY'
import json, sys
paths = json.load(open(sys.argv[1]))
seconds = float(sys.argv[2])
kinds = [("services", "/api/v1/services?"),
         ("endpointslices", "/apis/discovery.k8s.io/v1/endpointslices?"),
         ("namespaces", "/api/v1/namespaces?"),
         ("pods", "/api/v1/pods?")]
print(f"{'kind':<16}{'lists':>7}{'watches':>9}{'lists/min':>11}{'requests/min':>14}")
for name, prefix in kinds:
    mine = [p for p in paths if p.startswith(prefix)]
    watches = sum(1 for p in mine if "watch=true" in p)
    lists = len(mine) - watches
    print(f"{name:<16}{lists:>7}{watches:>9}{lists * 60 / seconds:>11.2f}{len(mine) * 60 / seconds:>14.2f}")
PY
# And it comes back.
for _ in $(seq 1 900); do
  [ "$(answer web.default.svc.cluster.local)" = "10.96.0.20" ] && break
  sleep 0.1
done
echo "log lines during the run: $(grep -c 'WARN' "$work/cdns.err" || true) WARN, $(grep -c 'ERROR' "$work/cdns.err" || true) ERROR"
# LOG_COPY=FILE keeps clusterdns's log.
if [ -n "${LOG_COPY:-}" ]; then cp "$work/cdns.err" "$LOG_COPY"; fi
