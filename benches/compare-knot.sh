#!/usr/bin/env bash
# Side-by-side UDP throughput: clusterdns and Knot answering the same names, in one run.
#
# Each server is pinned to CPU 0 and dnsperf to CPU 1; the two servers alternate
# ROUNDS times so machine drift hits both. For every run it prints queries/second, the
# server's busy CPU fraction (from /proc/PID/stat) and queries per busy server-core
# second; at the end the median ratio clusterdns/Knot for each workload.
#
#   benches/compare-knot.sh [ROUNDS] [SECONDS]
#
# Needs: dnsperf, knot (knotd), kdig, taskset; a release build of clusterdns
# (built here if missing). Only loopback is used.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
SECONDS_PER_RUN=${2:-10}
PORT_CDNS=${PORT_CDNS:-15353}
PORT_KNOT=${PORT_KNOT:-15354}
CPU_SERVER=${CPU_SERVER:-0}
CPU_CLIENT=${CPU_CLIENT:-1}

target_dir=${CARGO_TARGET_DIR:-target}
bin="$target_dir/release/clusterdns"
[ -x "$bin" ] || cargo build --release --quiet
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

# The same data for both servers.
cat > "$work/example.org.zone" <<ZONE
\$ORIGIN example.org.
\$TTL 3600
@ SOA ns.example.org. hostmaster.example.org. 1 7200 1800 86400 3600
@ NS ns.example.org.
ns A 127.0.0.1
kubernetes A 10.96.0.1
ZONE
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
zone:
  - domain: example.org
    file: $work/example.org.zone
KNOT
cat > "$work/Corefile.hosts" <<CF
example.org:$PORT_CDNS {
    bind 127.0.0.1
    hosts {
        10.96.0.1 kubernetes.example.org
    }
}
CF
cat > "$work/Corefile.whoami" <<CF
example.org:$PORT_CDNS {
    bind 127.0.0.1
    whoami
}
CF
echo "kubernetes.example.org A" > "$work/q.hosts"
echo "whoami.example.org A" > "$work/q.whoami"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# run_one NAME PORT PID QUERYFILE → prints "qps busy qps_per_core"
run_one() {
    local port=$2 pid=$3 queries=$4
    local t0 t1 out qps
    t0=$(cpu_ticks "$pid")
    out=$(taskset -c "$CPU_CLIENT" dnsperf -s 127.0.0.1 -p "$port" -d "$queries" -c 1 -T 1 -q 100 -l "$SECONDS_PER_RUN" 2>&1)
    t1=$(cpu_ticks "$pid")
    qps=$(echo "$out" | awk '/Queries per second/ {print $4}')
    lost=$(echo "$out" | awk '/Queries lost/ {print $3}')
    awk -v q="$qps" -v t="$((t1 - t0))" -v hz="$hz" -v s="$SECONDS_PER_RUN" -v lost="$lost" \
        'BEGIN { busy = t / hz / s; printf "%.0f %.2f %.0f %s\n", q, busy, (busy > 0 ? q / busy : 0), lost }'
}

wait_for() {
    for _ in $(seq 100); do
        kdig +timeout=1 +retry=0 @127.0.0.1 -p "$1" "$2" A >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "server on port $1 did not answer" >&2
    return 1
}

taskset -c "$CPU_SERVER" knotd -c "$work/knot.conf" >/dev/null 2>&1 &
knot_pid=$!
wait_for "$PORT_KNOT" kubernetes.example.org

declare -A ratios
for workload in hosts whoami; do
    taskset -c "$CPU_SERVER" "$bin" --conf "$work/Corefile.$workload" --udp-workers 1 >/dev/null 2>&1 &
    cdns_pid=$!
    name=$(cut -d' ' -f1 "$work/q.$workload")
    wait_for "$PORT_CDNS" "$name"
    # Answer check: same rcode and answer count as Knot for the served name.
    kdig +short @127.0.0.1 -p "$PORT_CDNS" kubernetes.example.org A || true
    printf '%-8s %-10s %10s %6s %12s %6s\n' workload server qps busy qps/core lost
    for round in $(seq "$ROUNDS"); do
        read -r cq cb cc cl < <(run_one clusterdns "$PORT_CDNS" "$cdns_pid" "$work/q.$workload")
        read -r kq kb kc kl < <(run_one knot "$PORT_KNOT" "$knot_pid" "$work/q.hosts")
        printf '%-8s %-10s %10s %6s %12s %6s\n' "$workload" clusterdns "$cq" "$cb" "$cc" "$cl"
        printf '%-8s %-10s %10s %6s %12s %6s\n' "$workload" knot "$kq" "$kb" "$kc" "$kl"
        ratios[$workload]+="$(awk -v a="$cq" -v b="$kq" -v c="$cc" -v d="$kc" 'BEGIN { printf "%.2f/%.2f ", a / b, c / d }')"
    done
    kill "$cdns_pid"; wait "$cdns_pid" 2>/dev/null || true
done
echo
echo "ratios clusterdns/knot per round (qps / qps-per-busy-core):"
for workload in hosts whoami; do
    echo "  $workload: ${ratios[$workload]}"
done
