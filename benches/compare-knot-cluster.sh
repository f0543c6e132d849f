#!/usr/bin/env bash
# Side-by-side cluster-zone load: clusterdns and Knot serving the same ~10,000-service
# cluster, in one run.
#
# benches/cluster-zone.py generates one deterministic cluster (10,000 services in 100
# namespaces plus kubernetes and kube-dns; 1,000 headless with 5 endpoints each, half
# of them StatefulSet-style with hostnames; the ClusterIP services have 5 endpoints
# too) and writes it twice: as a JSON `kind: List` that clusterdns reads with the
# kubernetes plugin's `manifests`, and as a cluster.local zone file for Knot with the
# records the Kubernetes DNS specification gives (plugins/kubernetes/README.md,
# "Records"; TTL 5, SOA minimum 5). The workload is a shuffled dnsperf file of 100,000
# queries: 50% A of ClusterIP services, 15% AAAA of them (NODATA), 10% SRV
# _port._proto, 10% A of headless services, 5% A of endpoint names, 10% NXDOMAIN (half
# ndots:5 search-path expansions, half services that do not exist).
#
# Before measuring, 300 queries of every class (and a few more, about 2,700) go to both
# servers and their rcode, AA/TC flags and answer sections must agree (authority and
# additional sections are not compared; see cluster-zone.py); any mismatch stops the
# run with exit status 1.
#
# Each server is pinned to CPU 0 and dnsperf to CPU 1, both with one UDP worker; the
# servers alternate ROUNDS times. Per run it prints queries/second (dnsperf -c 1 -T 1
# -q 100 -l SECONDS), the server's busy CPU fraction (from /proc/PID/stat), queries
# per busy server-core second, and at a fixed rate (dnsperf -Q RATE for LAT_SECONDS)
# the busy fraction, average, p50 and p99 latency (from dnsperf -v per-query times).
# At the end: the ratios clusterdns/Knot per round and their medians.
#
#   benches/compare-knot-cluster.sh [ROUNDS] [SECONDS]
#
# Environment: RATE (default 20000), LAT_SECONDS (5), SERVICES (10000), PORT_CDNS,
# PORT_KNOT, CPU_SERVER, CPU_CLIENT. Needs: dnsperf, knotd, kdig, python3, taskset; a
# release build of clusterdns (built here if missing). Only loopback is used.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
SECONDS_PER_RUN=${2:-10}
RATE=${RATE:-20000}
LAT_SECONDS=${LAT_SECONDS:-5}
SERVICES=${SERVICES:-10000}
PORT_CDNS=${PORT_CDNS:-15373}
PORT_KNOT=${PORT_KNOT:-15374}
CPU_SERVER=${CPU_SERVER:-0}
CPU_CLIENT=${CPU_CLIENT:-1}

. benches/common.sh

# The same cluster for both servers.
python3 benches/cluster-zone.py generate "$work" --services "$SERVICES" \
    --headless-fraction 0.1 --endpoints 5 >/dev/null
cat "$work/summary.txt"

cat > "$work/knot.conf" <<KNOT
server:
    listen: 127.0.0.1@$PORT_KNOT
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
    rundir: $work
log:
  - target: stderr
    any: warning
database:
    storage: $work
template:
  - id: default
    semantic-checks: off
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
  - domain: cluster.local
    file: $work/cluster.local.zone
KNOT
cat > "$work/Corefile" <<CF
cluster.local:$PORT_CDNS {
    bind 127.0.0.1
    kubernetes cluster.local {
        manifests $work/cluster.json
        ttl 5
    }
}
CF


# run_latency PORT PID → prints "busy avg_us p50_us p99_us lost" at RATE queries/second
run_latency() {
    local port=$1 pid=$2
    local t0 t1 out avg lost p50 p99
    t0=$(cpu_ticks "$pid")
    taskset -c "$CPU_CLIENT" dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries.txt" \
        -c 1 -T 1 -q 100 -Q "$RATE" -l "$LAT_SECONDS" -v > "$work/lat.out" 2>&1
    t1=$(cpu_ticks "$pid")
    avg=$(awk '/Average Latency/ {printf "%.0f", $4 * 1e6}' "$work/lat.out")
    lost=$(awk '/Queries lost/ {print $3}' "$work/lat.out")
    read -r _ p50 p99 < <(python3 benches/cluster-zone.py latency < "$work/lat.out")
    awk -v t="$((t1 - t0))" -v hz="$hz" -v s="$LAT_SECONDS" \
        'BEGIN { printf "%.2f ", t / hz / s }'
    echo "$avg $p50 $p99 $lost"
}

# rcodes PORT → the response-code line of one pass over the workload
rcodes() {
    taskset -c "$CPU_CLIENT" dnsperf -s 127.0.0.1 -p "$1" -d "$work/queries.txt" -n 1 \
        -c 1 -T 1 -q 100 2>&1 | sed -n 's/^ *Response codes: *//p'
}


taskset -c "$CPU_SERVER" knotd -c "$work/knot.conf" >"$work/knot.log" 2>&1 &
knot_pid=$!
taskset -c "$CPU_SERVER" "$bin" --conf "$work/Corefile" --udp-workers 1 >"$work/cdns.log" 2>&1 &
cdns_pid=$!
last="svc-$((SERVICES - 1)).ns-$(((SERVICES - 1) / 100)).svc.cluster.local"
wait_for "$PORT_KNOT" "$last" || { cat "$work/knot.log" >&2; exit 1; }
wait_for "$PORT_CDNS" "$last" || { cat "$work/cdns.log" >&2; exit 1; }

echo
python3 benches/cluster-zone.py verify "127.0.0.1:$PORT_CDNS" "127.0.0.1:$PORT_KNOT" \
    "$work/verify.txt" || { echo "answers differ: not measuring" >&2; exit 1; }
echo "workload response codes, clusterdns: $(rcodes "$PORT_CDNS")"
echo "workload response codes, knot:       $(rcodes "$PORT_KNOT")"
echo "clusterdns: $bin ($(date -r "$bin" '+%Y-%m-%d %H:%M')); $(knotd -V | head -1)"

echo
printf '%-5s %-10s %9s %5s %9s %5s | %8s %5s %6s %6s %6s %5s\n' \
    round server qps busy qps/core lost "@$RATE" busy avg_us p50_us p99_us lost
declare -a r_qps r_core r_busy r_p50 r_p99
for round in $(seq "$ROUNDS"); do
    read -r cq cb cc cl < <(load "$PORT_CDNS" "$cdns_pid" "$work/queries.txt" "$CPU_CLIENT" "$SECONDS_PER_RUN" -c 1 -T 1 -q 100)
    read -r kq kb kc kl < <(load "$PORT_KNOT" "$knot_pid" "$work/queries.txt" "$CPU_CLIENT" "$SECONDS_PER_RUN" -c 1 -T 1 -q 100)
    read -r clb cla clp50 clp99 cll < <(run_latency "$PORT_CDNS" "$cdns_pid")
    read -r klb kla klp50 klp99 kll < <(run_latency "$PORT_KNOT" "$knot_pid")
    printf '%-5s %-10s %9s %5s %9s %5s | %8s %5s %6s %6s %6s %5s\n' \
        "$round" clusterdns "$cq" "$cb" "$cc" "$cl" "" "$clb" "$cla" "$clp50" "$clp99" "$cll"
    printf '%-5s %-10s %9s %5s %9s %5s | %8s %5s %6s %6s %6s %5s\n' \
        "$round" knot "$kq" "$kb" "$kc" "$kl" "" "$klb" "$kla" "$klp50" "$klp99" "$kll"
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
    r_qps+=("$(ratio "$cq" "$kq")")
    r_core+=("$(ratio "$cc" "$kc")")
    r_busy+=("$(ratio "$clb" "$klb")")
    r_p50+=("$(ratio "$clp50" "$klp50")")
    r_p99+=("$(ratio "$clp99" "$klp99")")
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.2f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
echo
echo "ratios clusterdns/knot per round, and median:"
printf '  %-26s %s  median %s\n' "qps:" "${r_qps[*]}" "$(median "${r_qps[@]}")"
printf '  %-26s %s  median %s\n' "qps per busy core:" "${r_core[*]}" "$(median "${r_core[@]}")"
printf '  %-26s %s  median %s\n' "busy CPU at $RATE qps:" "${r_busy[*]}" "$(median "${r_busy[@]}")"
printf '  %-26s %s  median %s\n' "p50 latency at $RATE qps:" "${r_p50[*]}" "$(median "${r_p50[@]}")"
printf '  %-26s %s  median %s\n' "p99 latency at $RATE qps:" "${r_p99[*]}" "$(median "${r_p99[@]}")"
