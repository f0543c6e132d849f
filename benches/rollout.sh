#!/usr/bin/env bash
# Lost queries through rollouts, at rates the CI test does not use: runs the rollout lab
# (tests/integration/rollout: network namespaces, kube-proxy's nftables VIP, conntrack,
# a probing endpoint controller, the real binary with deploy/'s Corefile and lameduck)
# at each RATE of new-socket UDP queries per second (plus a fifth of it on one reused
# socket, and 20 TCP queries/s), and prints every scenario's lost/sent per transport
# and when the losses happened.
#
#   benches/rollout.sh [RATE...]      default: 2000 10000 (replicas: the release build,
#                                     lameduck 5s and the shipped drain defaults,
#                                     --drain-quiet 10s --drain-limit 45s; the rolling
#                                     updates count losses for 30 s after the old
#                                     replicas exit)
#   benches/rollout.sh --smoke        one scenario at 200 queries/s
#
# Needs root, ip, nft, conntrack. FILTER selects scenarios (a test-name substring,
# default: all of them); ROLLOUT_DRAIN_QUIET=0s runs the replicas without drain;
# ROLLOUT_DRAIN_LIMIT, ROLLOUT_SETTLE as in tests/integration/rollout/mod.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
filter=${FILTER:-rollout_}
if [ "${1:-}" = --smoke ]; then
    ROLLOUT_QPS=200 cargo test --quiet -p clusterdns --test integration rollout_scale_down \
        -- --ignored --nocapture --test-threads 1 2>&1 | grep -E '==|^   '
    exit "${PIPESTATUS[0]}"
fi
rates=("$@")
[ ${#rates[@]} -gt 0 ] || rates=(2000 10000)
target_dir=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet -p clusterdns --bin clusterdns
export ROLLOUT_BINARY=${ROLLOUT_BINARY:-$target_dir/release/clusterdns}
export ROLLOUT_LAMEDUCK=${ROLLOUT_LAMEDUCK:-5s} ROLLOUT_DRAIN_LIMIT=${ROLLOUT_DRAIN_LIMIT:-45s}
export ROLLOUT_DRAIN_QUIET=${ROLLOUT_DRAIN_QUIET:-10s} ROLLOUT_SETTLE=${ROLLOUT_SETTLE:-30s}
for rate in "${rates[@]}"; do
    echo "### $rate new-socket UDP queries/s (replicas: $ROLLOUT_BINARY)"
    ROLLOUT_QPS=$rate cargo test --quiet -p clusterdns --test integration "$filter" \
        -- --ignored --nocapture --test-threads 1 2>&1 | grep -E '==|^   |FAILED' || true
done
