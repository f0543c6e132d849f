#!/usr/bin/env bash
# Side-by-side cache and forwarding throughput: clusterdns and Unbound, in one run.
#
# Knot serves example.org (a wildcard, so every name has an answer) as the upstream of
# both. Two workloads:
#   hit   both servers cache; 1,000 names, warmed before measuring (cache-hit path);
#   miss  clusterdns forwards without cache, Unbound forwards with every name new
#         (600,000 distinct names, each asked once): the forwarding path.
# The server under test is pinned to CPU 0; dnsperf and Knot share CPU 1. The two
# servers alternate ROUNDS times. Prints qps, the server's busy CPU fraction and
# queries per busy server-core second, then the ratios clusterdns/Unbound.
#
#   benches/compare-unbound.sh [ROUNDS] [SECONDS]
#
# Needs: dnsperf, knotd, unbound, kdig, taskset. Only loopback is used.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
SECONDS_PER_RUN=${2:-10}
PORT_CDNS=${PORT_CDNS:-15363}
PORT_UNBOUND=${PORT_UNBOUND:-15364}
PORT_KNOT=${PORT_KNOT:-15365}
CPU_SERVER=${CPU_SERVER:-0}
CPU_CLIENT=${CPU_CLIENT:-1}

. benches/common.sh

cat > "$work/example.org.zone" <<ZONE
\$ORIGIN example.org.
\$TTL 3600
@ SOA ns.example.org. hostmaster.example.org. 1 7200 1800 86400 3600
@ NS ns.example.org.
ns A 127.0.0.1
* A 10.0.0.1
ZONE
cat > "$work/knot.conf" <<KNOT
server:
    listen: 127.0.0.1@$PORT_KNOT
    udp-workers: 1
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
unbound_conf() { # $1 = cache size
    cat <<UB
server:
    interface: 127.0.0.1
    port: $PORT_UNBOUND
    do-daemonize: no
    use-syslog: no
    chroot: ""
    username: ""
    directory: "$work"
    pidfile: ""
    num-threads: 1
    verbosity: 0
    do-not-query-localhost: no
    access-control: 127.0.0.0/8 allow
    module-config: "iterator"
    qname-minimisation: no
    so-rcvbuf: 4m
    msg-cache-size: $1
    rrset-cache-size: $1
forward-zone:
    name: "example.org"
    forward-addr: 127.0.0.1@$PORT_KNOT
UB
}
unbound_conf 64m > "$work/unbound.conf"
cat > "$work/Corefile.hit" <<CF
example.org:$PORT_CDNS {
    bind 127.0.0.1
    cache 3600
    forward . 127.0.0.1:$PORT_KNOT
}
CF
cat > "$work/Corefile.miss" <<CF
example.org:$PORT_CDNS {
    bind 127.0.0.1
    forward . 127.0.0.1:$PORT_KNOT
}
CF
for i in $(seq 1000); do echo "h$i.example.org A"; done > "$work/q.hit"
# Distinct names for the miss runs: each server gets its own prefix per round.
make_miss() { awk -v p="$1" 'BEGIN { for (i = 0; i < 600000; i++) printf "%s%d.example.org A\n", p, i }' > "$work/q.miss.$1"; }

warm() { taskset -c "$CPU_CLIENT" dnsperf -s 127.0.0.1 -p "$1" -d "$work/q.hit" -n 2 -q 100 >/dev/null 2>&1; }

taskset -c "$CPU_CLIENT" knotd -c "$work/knot.conf" >/dev/null 2>&1 &
wait_for "$PORT_KNOT" ns.example.org

declare -A ratios
printf '%-6s %-10s %10s %6s %12s %8s\n' mode server qps busy qps/core lost
for mode in hit miss; do
    for round in $(seq "$ROUNDS"); do
        taskset -c "$CPU_SERVER" "$bin" --conf "$work/Corefile.$mode" --udp-workers 1 >/dev/null 2>&1 &
        cdns=$!
        taskset -c "$CPU_SERVER" unbound -c "$work/unbound.conf" >/dev/null 2>&1 &
        ub=$!
        wait_for "$PORT_CDNS" ns.example.org; wait_for "$PORT_UNBOUND" ns.example.org
        if [ "$mode" = hit ]; then
            warm "$PORT_CDNS"; warm "$PORT_UNBOUND"
            qc="$work/q.hit"; qu="$work/q.hit"
        else
            make_miss "c$round"; make_miss "u$round"
            qc="$work/q.miss.c$round"; qu="$work/q.miss.u$round"
        fi
        read -r cq cb cc cl < <(load "$PORT_CDNS" "$cdns" "$qc" "$CPU_CLIENT" "$SECONDS_PER_RUN" -c 1 -T 1 -q 100)
        read -r uq ub_busy uc ul < <(load "$PORT_UNBOUND" "$ub" "$qu" "$CPU_CLIENT" "$SECONDS_PER_RUN" -c 1 -T 1 -q 100)
        printf '%-6s %-10s %10s %6s %12s %8s\n' "$mode" clusterdns "$cq" "$cb" "$cc" "$cl"
        printf '%-6s %-10s %10s %6s %12s %8s\n' "$mode" unbound "$uq" "$ub_busy" "$uc" "$ul"
        ratios[$mode]+="$(awk -v a="$cq" -v b="$uq" -v c="$cc" -v d="$uc" 'BEGIN { printf "%.2f/%.2f ", a / b, (d > 0 ? c / d : 0) }')"
        kill "$cdns" "$ub"; wait "$cdns" "$ub" 2>/dev/null || true
        rm -f "$work"/q.miss.*
    done
done
echo
echo "ratios clusterdns/unbound per round (qps / qps-per-busy-core):"
for mode in hit miss; do echo "  $mode: ${ratios[$mode]}"; done
