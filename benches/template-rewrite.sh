#!/usr/bin/env bash
# What the IPv4-only AAAA filter (`template IN AAAA . { rcode NOERROR }`) and a rewrite
# rule cost cluster-name queries: the same binary serving the same cluster three ways,
# in one run.
#
# benches/cluster-zone.py generates the cluster (SERVICES services, 10% headless, 5
# endpoints each) and its dnsperf workload; the A queries of it are kept (ClusterIP,
# headless and endpoint names, NXDOMAIN search-path expansions): the queries a filter
# or rewrite in front of the cluster zone must leave alone. Three servers load the
# cluster with `manifests`, in a block for cluster.local and cluster.internal:
#
#   base      kubernetes alone
#   filter    template IN AAAA . { rcode NOERROR } before it
#   rewrite   rewrite name suffix .cluster.internal. .cluster.local. answer auto before it
#
# Each is pinned to CPU 0 and dnsperf to CPU 1, one UDP worker each; they alternate
# ROUNDS times. Per run: queries/second (dnsperf -c 1 -T 1 -q 100 -l SECONDS), busy CPU
# of the server, queries per busy core-second. At the end: the ratios filter/base and
# rewrite/base per round and their medians (1.00: no cost).
#
#   benches/template-rewrite.sh [ROUNDS] [SECONDS]
#
# Environment: SERVICES (default 10000), PORT_BASE, PORT_FILTER, PORT_REWRITE,
# CPU_SERVER, CPU_CLIENT. Needs: dnsperf, kdig, python3, taskset; a release build of
# clusterdns (built here if missing). Only loopback is used.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
SECONDS_PER_RUN=${2:-10}
SERVICES=${SERVICES:-10000}
PORT_BASE=${PORT_BASE:-15491}
PORT_FILTER=${PORT_FILTER:-15492}
PORT_REWRITE=${PORT_REWRITE:-15493}
CPU_SERVER=${CPU_SERVER:-0}
CPU_CLIENT=${CPU_CLIENT:-1}

. benches/common.sh

python3 benches/cluster-zone.py generate "$work" --services "$SERVICES" \
    --headless-fraction 0.1 --endpoints 5 >/dev/null
cat "$work/summary.txt"
awk '$2 == "A"' "$work/queries.txt" > "$work/a.txt"
echo "workload: $(wc -l < "$work/a.txt") A queries"

corefile() {
    local port=$1 extra=$2
    cat <<CF
cluster.local:$port cluster.internal:$port {
    bind 127.0.0.1
$extra
    kubernetes cluster.local {
        manifests $work/cluster.json
        ttl 5
    }
}
CF
}
corefile "$PORT_BASE" "" > "$work/Corefile.base"
corefile "$PORT_FILTER" "    template IN AAAA . {
        rcode NOERROR
    }" > "$work/Corefile.filter"
corefile "$PORT_REWRITE" "    rewrite name suffix .cluster.internal. .cluster.local. answer auto" \
    > "$work/Corefile.rewrite"

declare -A pid port
port[base]=$PORT_BASE
port[filter]=$PORT_FILTER
port[rewrite]=$PORT_REWRITE
last="svc-$((SERVICES - 1)).ns-$(((SERVICES - 1) / 100)).svc.cluster.local"
for variant in base filter rewrite; do
    taskset -c "$CPU_SERVER" "$bin" --conf "$work/Corefile.$variant" --udp-workers 1 \
        >"$work/$variant.log" 2>&1 &
    pid[$variant]=$!
    wait_for "${port[$variant]}" "$last" || { cat "$work/$variant.log" >&2; exit 1; }
done
# The variants do what they say.
kdig +short @127.0.0.1 -p "$PORT_FILTER" "$last" AAAA | grep -q . && { echo "filter: AAAA answered" >&2; exit 1; }
kdig @127.0.0.1 -p "$PORT_FILTER" "$last" AAAA | grep -q 'status: NOERROR' || { echo "filter: no NOERROR" >&2; exit 1; }
internal=${last%.cluster.local}.cluster.internal
kdig +short @127.0.0.1 -p "$PORT_REWRITE" "$internal" A | grep -q . || { echo "rewrite: $internal not answered" >&2; exit 1; }
echo "clusterdns: $bin ($(date -r "$bin" '+%Y-%m-%d %H:%M'))"

echo
printf '%-5s %-8s %9s %5s %9s %5s\n' round server qps busy qps/core lost
declare -a f_qps f_core r_qps r_core
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
for round in $(seq "$ROUNDS"); do
    declare -A q c
    for variant in base filter rewrite; do
        read -r vq vb vc vl < <(load "${port[$variant]}" "${pid[$variant]}" "$work/a.txt" "$CPU_CLIENT" "$SECONDS_PER_RUN" -c 1 -T 1 -q 100)
        printf '%-5s %-8s %9s %5s %9s %5s\n' "$round" "$variant" "$vq" "$vb" "$vc" "$vl"
        q[$variant]=$vq
        c[$variant]=$vc
    done
    f_qps+=("$(ratio "${q[filter]}" "${q[base]}")")
    f_core+=("$(ratio "${c[filter]}" "${c[base]}")")
    r_qps+=("$(ratio "${q[rewrite]}" "${q[base]}")")
    r_core+=("$(ratio "${c[rewrite]}" "${c[base]}")")
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.3f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
echo
echo "ratios against base per round, and median (1.000: no cost):"
printf '  %-28s %s  median %s\n' "AAAA filter, qps:" "${f_qps[*]}" "$(median "${f_qps[@]}")"
printf '  %-28s %s  median %s\n' "AAAA filter, qps per core:" "${f_core[*]}" "$(median "${f_core[@]}")"
printf '  %-28s %s  median %s\n' "rewrite, qps:" "${r_qps[*]}" "$(median "${r_qps[@]}")"
printf '  %-28s %s  median %s\n' "rewrite, qps per core:" "${r_core[*]}" "$(median "${r_core[@]}")"
