#!/usr/bin/env bash
# clusterdns as the node-local cache, with NodeLocal DNSCache's Corefile, against its own
# budget (25 MiB memory limit, 50m CPU request) and against Unbound as a forwarder, in one
# run.
#
# The Corefile is deploy/examples/nodelocaldns.Corefile (the template as the node cache
# fills it in) with loopback addresses and ports instead of 169.254.20.10 and :53; Knot
# stands in for the cluster DNS (kube-dns-upstream) and for the node's resolvers, serving
# cluster.local and example.org with wildcards. 10,000 names: 9,000 cluster names (the
# cluster.local block's success store holds 9,984) and 1,000 external ones. Unbound
# forwards both zones to the same Knot, one thread, cache large enough for all names.
#
# Measured, for each server pinned to CPU 0 (dnsperf and Knot on CPU 1):
#   rss10k   resident memory once the 10,000 names are cached (kB);
#   hit      cache hits per second and per busy server core (1,000 cached names);
#   budget   at RATE queries/s of cache hits (default 1,000, a busy node): CPU in
#            millicores and RSS in MiB after the run (clusterdns only), to hold against
#            the 50m request and 25 MiB limit.
# The cache caps TTLs at 30 s (the template's `success 9984 30`), so each measurement runs
# right after its warm-up; rounds start fresh servers.
#
#   benches/node-local.sh [ROUNDS] [SECONDS]
#
# Needs: dnsperf, knotd, unbound, kdig, taskset. Only loopback is used.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
SECONDS_PER_RUN=${2:-10}
RATE=${RATE:-1000}
WORKERS=${WORKERS:-1}
PORT_CDNS=${PORT_CDNS:-15373}
PORT_UNBOUND=${PORT_UNBOUND:-15374}
PORT_KNOT=${PORT_KNOT:-15375}
PORT_HEALTH=${PORT_HEALTH:-15376}
PORT_METRICS=${PORT_METRICS:-15377}
CPU_SERVER=${CPU_SERVER:-0}
CPU_CLIENT=${CPU_CLIENT:-1}

. benches/common.sh

for zone in cluster.local example.org; do
    cat > "$work/$zone.zone" <<ZONE
\$ORIGIN $zone.
\$TTL 3600
@ SOA ns.$zone. hostmaster.$zone. 1 7200 1800 86400 3600
@ NS ns.$zone.
ns A 127.0.0.1
* A 10.0.0.1
ZONE
done
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
  - domain: cluster.local
    file: $work/cluster.local.zone
  - domain: example.org
    file: $work/example.org.zone
KNOT
cat > "$work/unbound.conf" <<UB
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
    msg-cache-size: 16m
    rrset-cache-size: 16m
forward-zone:
    name: "cluster.local"
    forward-addr: 127.0.0.1@$PORT_KNOT
forward-zone:
    name: "example.org"
    forward-addr: 127.0.0.1@$PORT_KNOT
UB
# NodeLocal DNSCache's Corefile on loopback; the substitutions must all apply.
sed -e "s/bind 169.254.20.10 10.96.0.10/bind 127.0.0.1/" \
    -e "s/:53 {/:$PORT_CDNS {/" \
    -e "s|forward . 10.96.0.11|forward . 127.0.0.1:$PORT_KNOT|" \
    -e "s|forward . /etc/resolv.conf|forward . 127.0.0.1:$PORT_KNOT|" \
    -e "s/health 169.254.20.10:8080/health 127.0.0.1:$PORT_HEALTH/" \
    -e "s/prometheus :9253/prometheus 127.0.0.1:$PORT_METRICS/" \
    deploy/examples/nodelocaldns.Corefile > "$work/Corefile"
if grep -qE '169\.254|10\.96|:53 |/etc/resolv' "$work/Corefile"; then
    echo "node-local.sh: the Corefile was not fully adapted:" >&2
    cat "$work/Corefile" >&2
    exit 1
fi

for i in $(seq 9000); do echo "s$i.ns$((i % 50)).svc.cluster.local A"; done > "$work/q.10k"
for i in $(seq 1000); do echo "h$i.example.org A"; done >> "$work/q.10k"
head -n 1000 "$work/q.10k" > "$work/q.hit"

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
warm() { taskset -c "$CPU_CLIENT" dnsperf -s 127.0.0.1 -p "$1" -d "$2" -n 1 -q 100 >/dev/null 2>&1; }

taskset -c "$CPU_CLIENT" knotd -c "$work/knot.conf" >/dev/null 2>&1 &
wait_for "$PORT_KNOT" ns.example.org

printf '%-5s %-10s %8s %10s %6s %10s %6s %8s %8s\n' \
    round server rss10k hit_qps busy hit/core lost "mcpu@$RATE" "rss_MiB"
for round in $(seq "$ROUNDS"); do
    taskset -c "$CPU_SERVER" "$bin" --conf "$work/Corefile" --udp-workers "$WORKERS" >/dev/null 2>&1 &
    cdns=$!
    taskset -c "$CPU_SERVER" unbound -c "$work/unbound.conf" >/dev/null 2>&1 &
    ub=$!
    wait_for "$PORT_CDNS" ns.example.org; wait_for "$PORT_UNBOUND" ns.example.org
    for server in clusterdns unbound; do
        if [ $server = clusterdns ]; then port=$PORT_CDNS pid=$cdns; else port=$PORT_UNBOUND pid=$ub; fi
        warm "$port" "$work/q.10k"
        rss=$(rss_kb "$pid")
        warm "$port" "$work/q.hit"
        read -r q busy per_core lost < <(load "$port" "$pid" "$work/q.hit" "$CPU_CLIENT" "$SECONDS_PER_RUN" -c 1 -T 1 -q 100)
        warm "$port" "$work/q.hit"
        read -r _ rbusy _ _ < <(load "$port" "$pid" "$work/q.hit" "$CPU_CLIENT" "$SECONDS_PER_RUN" -c 1 -T 1 -Q "$RATE")
        mcpu=$(awk -v b="$rbusy" 'BEGIN { printf "%.0f", b * 1000 }')
        rss_mib=$(awk -v k="$(rss_kb "$pid")" 'BEGIN { printf "%.1f", k / 1024 }')
        printf '%-5s %-10s %8s %10s %6s %10s %6s %8s %8s\n' \
            "$round" "$server" "$rss" "$q" "$busy" "$per_core" "$lost" "$mcpu" "$rss_mib"
    done
    kill "$cdns" "$ub"; wait "$cdns" "$ub" 2>/dev/null || true
done
echo
echo "rss10k in kB after 10,000 names; mcpu@$RATE: server CPU in millicores at $RATE qps of hits"
echo "(NodeLocal DNSCache's budget: 50m CPU request, 25 MiB memory limit)"
