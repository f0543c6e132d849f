#!/usr/bin/env bash
# Runs every benchmark script once in smoke mode (one round of one second, small
# generated data), so that a broken benchmark is caught by CI, not by the next person
# who measures. Prints each script's output and its run time; exits 1 if any failed.
#
#   benches/smoke.sh
#
# Needs what the scripts need (dnsperf, knotd, kdig, unbound, curl, bc, python3,
# taskset); builds the release binaries (once, for every script).
set -euo pipefail
cd "$(dirname "$0")/.."
# Always (incremental when up to date): the scripts build only a missing binary, and a
# target directory kept between CI runs may hold one from an older commit.
cargo build --release --quiet -p clusterdns --bin clusterdns
cargo build --release --quiet -p clusterdns-test-apiserver --bin test-apiserver
# A machine with one CPU runs server and client on it.
if [ "$(nproc)" -lt 2 ]; then export CPU_CLIENT=0; fi
failed=()
run() {
    local name=$1
    shift
    echo "== $name $*"
    local start=$SECONDS
    if timeout 120 "benches/$name" "$@"; then
        echo "== $name: ok in $((SECONDS - start)) s"
    else
        echo "== $name: FAILED (exit $?) after $((SECONDS - start)) s"
        failed+=("$name")
    fi
}
run compare-knot.sh 1 1
run compare-unbound.sh 1 1
SERVICES=300 RATE=2000 LAT_SECONDS=1 run compare-knot-cluster.sh 1 1
SERVICES=300 run core-scaling.sh 1 1
SERVICES=300 run template-rewrite.sh 1 1
run cluster-scale.sh 200 2
run api-outage.sh --smoke
run node-local.sh 1 1
run pod-map.sh 2000
run autopath.sh 5
run rollout.sh --smoke
run overload.sh --smoke
SERVICES=100 run autopath-wire.sh 1 1
SERVICES=100 run dns64-wire.sh 1 1
if [ ${#failed[@]} -gt 0 ]; then
    echo "benchmark scripts failed: ${failed[*]}" >&2
    exit 1
fi
