#!/usr/bin/env bash
# How cluster-zone throughput grows with server cores: clusterdns serves the generated
# 10,000-service cluster (benches/cluster-zone.py, as compare-knot-cluster.sh) with W
# UDP workers pinned to W cores, for each W given, and dnsperf drives it from the
# client cores. Prints per W: queries/second, the server's busy cores (utime + stime
# from /proc/PID/stat over the run), queries per busy server-core second, and the
# speed-up over the first W.
#
#   benches/core-scaling.sh [SECONDS=10] [WORKERS...=1 2]
#
# Environment: SERVER_CPUS (default: 0-(W-1) for W workers), CLIENT_CPUS (default: the
# CPUs after the server's, or the last CPU when there are none left, in which case the
# client shares a core with the server and qps is limited by it: read qps/core then),
# CLIENT_THREADS (default 2), PORT (15375), SERVICES (10000). Needs: dnsperf, kdig, python3, taskset; a
# release build of clusterdns (built here if missing). Only loopback is used.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${1:-10}
shift || true
WORKERS=("$@")
[ ${#WORKERS[@]} -gt 0 ] || WORKERS=(1 2)
PORT=${PORT:-15375}
SERVICES=${SERVICES:-10000}
CLIENT_THREADS=${CLIENT_THREADS:-2}
cpus=$(nproc)

. benches/common.sh
python3 benches/cluster-zone.py generate "$work" --services "$SERVICES" \
    --headless-fraction 0.1 --endpoints 5 >/dev/null
cat > "$work/Corefile" <<CF
cluster.local:$PORT {
    bind 127.0.0.1
    kubernetes cluster.local {
        manifests $work/cluster.json
    }
}
CF

printf '%-8s %-9s %-9s %9s %6s %10s %8s\n' workers server client qps busy qps/core speedup
first=""
for w in "${WORKERS[@]}"; do
    server_cpus=${SERVER_CPUS:-0-$((w - 1))}
    if [ -n "${CLIENT_CPUS:-}" ]; then
        client_cpus=$CLIENT_CPUS
    elif [ "$w" -lt "$cpus" ]; then
        client_cpus=$w-$((cpus - 1))
    else
        client_cpus=$((cpus - 1))
    fi
    taskset -c "$server_cpus" "$bin" --conf "$work/Corefile" --udp-workers "$w" \
        >"$work/cdns.log" 2>&1 &
    pid=$!
    wait_for "$PORT" svc-1.ns-0.svc.cluster.local
    read -r qps busy per_core _ < <(load "$PORT" "$pid" "$work/queries.txt" "$client_cpus" \
        "$SECONDS_PER_RUN" -c "$((2 * w))" -T "$CLIENT_THREADS" -q 200)
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    first=${first:-$qps}
    speedup=$(awk -v a="$qps" -v b="$first" 'BEGIN { printf "%.2f", a / b }')
    printf '%-8s %-9s %-9s %9.0f %6s %10s %8s\n' "$w" "$server_cpus" "$client_cpus" "$qps" \
        "$busy" "$per_core" "$speedup"
done
