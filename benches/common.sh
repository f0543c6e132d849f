# Shared by the benchmark scripts; sourced from the repository root, not run.
#
# Sets `bin` (the release build of clusterdns, built if missing) and `work` (a scratch
# directory removed on exit, after every background job of the script is stopped), and
# defines the measuring helpers below. Needs: dnsperf, kdig, taskset.

target_dir=${CARGO_TARGET_DIR:-target}
bin="$target_dir/release/clusterdns"
[ -x "$bin" ] || cargo build --release --quiet --bin clusterdns
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
hz=$(getconf CLK_TCK)

# cpu_ticks PID: the user + system clock ticks the process has used so far
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# load PORT PID QUERYFILE CPUS SECONDS [DNSPERF_OPTIONS...]: dnsperf on CPUS against
# the server PID listens with on PORT (at LOAD_ADDR, default 127.0.0.1), for SECONDS;
# prints "qps busy qps_per_core lost" (busy: the server's CPU time over the run, in
# cores).
load() {
    local port=$1 pid=$2 queries=$3 cpus=$4 seconds=$5
    shift 5
    local t0 t1 out
    t0=$(cpu_ticks "$pid")
    out=$(taskset -c "$cpus" dnsperf -s "${LOAD_ADDR:-127.0.0.1}" -p "$port" -d "$queries" -l "$seconds" "$@" 2>&1)
    t1=$(cpu_ticks "$pid")
    awk -v q="$(echo "$out" | awk '/Queries per second/ {print $4}')" \
        -v lost="$(echo "$out" | awk '/Queries lost/ {print $3}')" \
        -v t="$((t1 - t0))" -v hz="$hz" -v s="$seconds" \
        'BEGIN { busy = t / hz / s; printf "%.0f %.2f %.0f %s\n", q, busy, (busy > 0 ? q / busy : 0), lost }'
}

# wait_for PORT NAME [any]: until NAME has an A record on PORT (the server is up and
# its data loaded), or with `any` until it is answered NOERROR at all (whoami answers in
# the additional section); fails after 30 s
wait_for() {
    local answer
    for _ in $(seq 300); do
        if [ "${3:-}" = any ]; then
            kdig +timeout=1 +retry=0 @127.0.0.1 -p "$1" "$2" A 2>/dev/null \
                | grep -q 'status: NOERROR' && return 0
        else
            # `|| true`: under `set -e` a failed kdig (the server is not up yet) in an
            # assignment would end the script.
            answer=$(kdig +short +timeout=1 +retry=0 @127.0.0.1 -p "$1" "$2" A 2>/dev/null || true)
            [ -n "$answer" ] && return 0
        fi
        sleep 0.1
    done
    echo "server on port $1 did not answer" >&2
    return 1
}
