#!/usr/bin/env bash
# Instructions per iteration of each hot-path case (benches/examples/hot_loop.rs), counted
# by callgrind: repeatable on a loaded machine, unlike wall-clock benches.
#
#   scripts/instructions.sh                  # every case
#   scripts/instructions.sh no_rules one_flow_rule_passing
#   N=50000 scripts/instructions.sh         # more iterations per run
#
# Callgrind counts only the example's measured loop (set-up and the real clock's
# calibration excluded); its total over N is the cost of one iteration. Needs valgrind.
#
# Under valgrind the CPU does not report an invariant TSC, so quanta (the real clock of
# Sentinel and governor alike) reads the OS monotonic clock: a clock read counts as
# clock_gettime's instructions here, where natively it is one rdtsc.
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
