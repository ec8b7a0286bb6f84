#!/usr/bin/env bash
# Load test (manual, not CI): wrk against an axum hello-world on 127.0.0.1, without and
# with SentinelLayer (one flow rule that every request passes), alternating ROUNDS times.
# Needs wrk: apt-get install -y --no-install-recommends wrk
#
#   scripts/loadtest.sh                      # 10 s per run, 64 connections, 3 rounds
#   DURATION=30 ROUNDS=5 CONNECTIONS=128 scripts/loadtest.sh
#   OTHER_SERVER=/tmp/before/target/release/hello_server scripts/loadtest.sh
#                                            # and another build's server, alternately
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}        # seconds per run
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}           # wrk threads (the server gets the remaining cores)
ROUNDS=${ROUNDS:-3}

command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y --no-install-recommends wrk" >&2; exit 1; }
[ "${NO_BUILD:-0}" = 1 ] || cargo build --quiet --release -p sentinel-benches --bin hello_server
server_bin=${CARGO_TARGET_DIR:-target}/release/hello_server
out=$(mktemp -d)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$out"
}
trap cleanup EXIT

# run LABEL SERVER MODE: serves for DURATION + 10 s at most, so a stuck run still ends.
run() {
    local label=$1 server=$2 mode=$3 flag=
    [ "$mode" = sentinel ] && flag=--sentinel
    "$server" $flag --seconds $((DURATION + 10)) >"$out/addr" &
    server_pid=$!
    for _ in $(seq 100); do [ -s "$out/addr" ] && break; sleep 0.05; done
    local addr
    addr=$(head -1 "$out/addr")
    [ -n "$addr" ] || { echo "server did not start" >&2; exit 1; }
    local rps
    rps=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" "http://$addr/items/42" | awk '/Requests\/sec/ {print $2}')
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
    : >"$out/addr"
    printf '%-6s %-9s %12s req/s\n' "$label" "$mode" "$rps"
    [ -n "$rps" ] && echo "$label $mode $rps" >>"$out/results"
}

labels=(this)
[ -n "${OTHER_SERVER:-}" ] && labels+=(other)
server_of() { if [ "$1" = this ]; then echo "$server_bin"; else echo "$OTHER_SERVER"; fi; }

echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s http://127.0.0.1:PORT/items/42, $ROUNDS rounds"
for _ in $(seq "$ROUNDS"); do
    for label in "${labels[@]}"; do
        run "$label" "$(server_of "$label")" plain
        run "$label" "$(server_of "$label")" sentinel
    done
done
# Other work on the machine disturbs single runs: report each mode's median and best run.
summary() {
    sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.0f %.0f\n", m, v[NR] }'
}
for label in "${labels[@]}"; do
    read -r plain_median plain_best < <(awk -v l="$label" '$1 == l && $2 == "plain" { print $3 }' "$out/results" | summary)
    read -r sentinel_median sentinel_best < <(awk -v l="$label" '$1 == l && $2 == "sentinel" { print $3 }' "$out/results" | summary)
    awk -v l="$label" -v pm="$plain_median" -v pb="$plain_best" -v sm="$sentinel_median" -v sb="$sentinel_best" 'BEGIN {
        printf "%s median: plain %d req/s, sentinel %d req/s (%.1f%%)\n", l, pm, sm, 100 * sm / pm
        printf "%s best:   plain %d req/s, sentinel %d req/s (%.1f%%)\n", l, pb, sb, 100 * sb / pb
    }'
done
