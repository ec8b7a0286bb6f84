#!/usr/bin/env bash
# Instructions per iteration of each hot-path case (benches/examples/hot_loop.rs), counted
# by callgrind: repeatable on a loaded machine, unlike wall-clock benches.
#
#   scripts/instructions.sh                  # every case
#   scripts/instructions.sh no_rules one_flow_rule_passing
#   N=100000 scripts/instructions.sh        # the iterations of BENCHMARKS.md's table
#
# Callgrind counts only the example's measured loop (set-up and the real clock's
# calibration excluded); its total over N is the cost of one iteration. Needs valgrind.
#
# quanta (the real clock of Sentinel and governor alike) still finds the invariant TSC
# under valgrind, so a clock read counts as rdtsc and its scaling, as natively. An atomic
# read-modify-write or an rdtsc counts as one instruction whatever it costs: compare
# these counts between versions, not with times.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-20000}
command -v valgrind >/dev/null || { echo "valgrind not found: apt-get install -y valgrind" >&2; exit 1; }
# NO_BUILD=1: the example is already built (say, by a cargo command run under a lock).
[ "${NO_BUILD:-0}" = 1 ] || cargo build --quiet --release -p sentinel-benches --example hot_loop
bin=${CARGO_TARGET_DIR:-target}/release/examples/hot_loop
cases=("$@")
if [ ${#cases[@]} -eq 0 ]; then
    mapfile -t cases < <("$bin" 2>&1 | sed -n 's/.*cases: //p' | tr ' ' '\n')
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

count() {
    valgrind --tool=callgrind --toggle-collect='*measured*' --callgrind-out-file="$out/cg" \
        "$bin" "$1" "$N" >/dev/null 2>"$out/log"
    sed -n 's/^summary: //p' "$out/cg"
}

printf '%-28s %s\n' case instructions/iteration
for case in "${cases[@]}"; do
    printf '%-28s %s\n' "$case" $(($(count "$case") / N))
done
