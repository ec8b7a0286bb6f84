#!/usr/bin/env bash
# Load test (manual, not CI): wrk against an axum hello-world on 127.0.0.1, without and
# with SentinelLayer (one flow rule that every request passes), alternating ROUNDS times.
# Needs wrk: apt-get install -y --no-install-recommends wrk
#
#   scripts/loadtest.sh                      # 10 s per run, 64 connections, 2 rounds
#   DURATION=30 CONNECTIONS=128 scripts/loadtest.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}        # seconds per run
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}           # wrk threads (the server gets the remaining cores)
ROUNDS=${ROUNDS:-2}

command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y --no-install-recommends wrk" >&2; exit 1; }
cargo build --quiet --release -p sentinel-benches --bin hello_server
server_bin=target/release/hello_server
out=$(mktemp -d)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$out"
}
trap cleanup EXIT

# run MODE: serves for DURATION + 10 s at most, so a stuck run still ends.
run() {
    local mode=$1 flag=
    [ "$mode" = sentinel ] && flag=--sentinel
    "$server_bin" $flag --seconds $((DURATION + 10)) >"$out/addr" &
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
    printf '%-9s %12s req/s\n' "$mode" "$rps"
    echo "$mode $rps" >>"$out/results"
}

echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s http://127.0.0.1:PORT/items/42, $ROUNDS rounds"
for _ in $(seq "$ROUNDS"); do
    run plain
    run sentinel
done
awk '{ sum[$1] += $2; n[$1]++ }
     END { p = sum["plain"] / n["plain"]; s = sum["sentinel"] / n["sentinel"];
           printf "mean: plain %.0f req/s, sentinel %.0f req/s (%.1f%% of plain)\n", p, s, 100 * s / p }' "$out/results"
