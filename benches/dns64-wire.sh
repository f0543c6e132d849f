#!/usr/bin/env bash
# Cluster-name AAAA throughput from an IPv6 client with `dns64` in the chain, against
# the same Corefile without dns64, in one run: does dns64 leave the AAAA questions the
# cluster zone answers with AAAA records (which it would not translate) to the wire
# path? This is an IPv6-only cluster (kops adds dns64 there), where every pod asks AAAA.
#
# A manifest with SERVICES dual-stack services in namespace `shop` (an IPv4 and an IPv6
# cluster IP each); the workload is 100,000 shuffled AAAA queries for
# `svc-N.shop.svc.cluster.local`, sent by dnsperf from ::1 to ::1 (an IPv6 client, so
# dns64 looks at every one). Both servers are pinned to CPU_SERVER with one UDP worker,
# dnsperf to CPU_CLIENT (-c 1 -T 1 -q 100), and alternate ROUNDS times. Prints
# queries/second, the server's busy CPU fraction and queries per busy core second per
# run, and the median ratio with/without dns64. The figure is quoted in
# plugins/dns64/README.md.
#
#   benches/dns64-wire.sh [ROUNDS] [SECONDS]
#
# Environment: SERVICES (default 1000), PORT_WITH, PORT_WITHOUT, CPU_SERVER,
# CPU_CLIENT; BEFORE=PATH also runs the Corefile with dns64 on the clusterdns binary at
# PATH (another build, to compare with), on PORT_BEFORE. Needs: dnsperf, kdig, taskset,
# python3, IPv6 on loopback; a release build (built here if missing). Only loopback is
# used.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
SECONDS_PER_RUN=${2:-10}
SERVICES=${SERVICES:-1000}
PORT_WITH=${PORT_WITH:-15385}
PORT_WITHOUT=${PORT_WITHOUT:-15386}
PORT_BEFORE=${PORT_BEFORE:-15387}
BEFORE=${BEFORE:-}
CPU_SERVER=${CPU_SERVER:-0}
CPU_CLIENT=${CPU_CLIENT:-1}
export LOAD_ADDR=::1

. benches/common.sh

python3 - "$work" "$SERVICES" <<'PY'
import json, random, sys
work, services = sys.argv[1], int(sys.argv[2])
items = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}]
for i in range(services):
    v4 = f"10.96.{i // 250}.{i % 250 + 1}"
    items.append({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": f"svc-{i}", "namespace": "shop"},
        "spec": {"clusterIP": v4, "clusterIPs": [v4, f"fd00:10:96::{i + 1:x}"],
                 "ipFamilies": ["IPv4", "IPv6"],
                 "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]},
    })
with open(f"{work}/cluster.json", "w") as f:
    json.dump({"apiVersion": "v1", "kind": "List", "items": items}, f)
rnd = random.Random(7)
with open(f"{work}/queries.txt", "w") as f:
    for _ in range(100000):
        f.write(f"svc-{rnd.randrange(services)}.shop.svc.cluster.local AAAA\n")
PY

corefile() { # PORT DNS64_LINE
    cat <<CF
cluster.local:$1 {
    bind ::1 127.0.0.1
    $2
    kubernetes cluster.local {
        manifests $work/cluster.json
    }
}
CF
}
corefile "$PORT_WITH" "dns64" > "$work/with.Corefile"
corefile "$PORT_WITHOUT" "" > "$work/without.Corefile"
corefile "$PORT_BEFORE" "dns64" > "$work/before.Corefile"

taskset -c "$CPU_SERVER" "$bin" --conf "$work/with.Corefile" --udp-workers 1 >"$work/with.log" 2>&1 &
with_pid=$!
taskset -c "$CPU_SERVER" "$bin" --conf "$work/without.Corefile" --udp-workers 1 >"$work/without.log" 2>&1 &
without_pid=$!
if [ -n "$BEFORE" ]; then
    taskset -c "$CPU_SERVER" "$BEFORE" --conf "$work/before.Corefile" --udp-workers 1 >"$work/before.log" 2>&1 &
    before_pid=$!
fi
last="svc-$((SERVICES - 1)).shop.svc.cluster.local"
wait_for "$PORT_WITH" "$last" || { cat "$work/with.log" >&2; exit 1; }
if [ -n "$BEFORE" ]; then
    wait_for "$PORT_BEFORE" "$last" || { cat "$work/before.log" >&2; exit 1; }
    echo "before: $BEFORE ($(date -r "$BEFORE" '+%Y-%m-%d %H:%M'))"
fi
wait_for "$PORT_WITHOUT" "$last" || { cat "$work/without.log" >&2; exit 1; }
# The same answer from both, asked from ::1: the service's own IPv6 address.
a=$(kdig +short @::1 -p "$PORT_WITH" "$last" AAAA)
b=$(kdig +short @::1 -p "$PORT_WITHOUT" "$last" AAAA)
[[ "$a" == fd00:10:96::* ]] && [ "$a" = "$b" ] || { echo "answers differ: '$a' vs '$b'" >&2; exit 1; }
echo "clusterdns: $bin ($(date -r "$bin" '+%Y-%m-%d %H:%M')); $SERVICES dual-stack services; client ::1"

printf '%-5s %-17s %9s %5s %9s %5s\n' round server qps busy qps/core lost
declare -a r_qps r_core r_before
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
for round in $(seq "$ROUNDS"); do
    read -r wq wb wc wl < <(load "$PORT_WITH" "$with_pid" "$work/queries.txt" "$CPU_CLIENT" "$SECONDS_PER_RUN" -c 1 -T 1 -q 100)
    read -r oq ob oc ol < <(load "$PORT_WITHOUT" "$without_pid" "$work/queries.txt" "$CPU_CLIENT" "$SECONDS_PER_RUN" -c 1 -T 1 -q 100)
    printf '%-5s %-17s %9s %5s %9s %5s\n' "$round" "with dns64" "$wq" "$wb" "$wc" "$wl"
    printf '%-5s %-17s %9s %5s %9s %5s\n' "$round" "without dns64" "$oq" "$ob" "$oc" "$ol"
    if [ -n "$BEFORE" ]; then
        read -r bq bb bc bl < <(load "$PORT_BEFORE" "$before_pid" "$work/queries.txt" "$CPU_CLIENT" "$SECONDS_PER_RUN" -c 1 -T 1 -q 100)
        printf '%-5s %-17s %9s %5s %9s %5s\n' "$round" "dns64, before" "$bq" "$bb" "$bc" "$bl"
        r_before+=("$(ratio "$bc" "$oc")")
    fi
    r_qps+=("$(ratio "$wq" "$oq")")
    r_core+=("$(ratio "$wc" "$oc")")
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.2f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
echo
echo "ratios with/without dns64 per round, and median:"
printf '  %-20s %s  median %s\n' "qps:" "${r_qps[*]}" "$(median "${r_qps[@]}")"
printf '  %-20s %s  median %s\n' "qps per busy core:" "${r_core[*]}" "$(median "${r_core[@]}")"
if [ -n "$BEFORE" ]; then
    printf '  %-20s %s  median %s\n' "before, per core:" "${r_before[*]}" "$(median "${r_before[@]}")"
fi
