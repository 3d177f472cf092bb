#!/usr/bin/env bash
# Runs the criterion micro-benchmarks of the domain engine (crates/domain/benches)
# and prints their figures as a Markdown table, ready for docs/BENCHMARKS.md.
#
#   scripts/bench-domain.sh                  # all of them, ~2 minutes on 2 cores
#   scripts/bench-domain.sh free_slots       # a criterion filter
#   scripts/bench-domain.sh -- --measurement-time 10   # longer runs (criterion flags)
#
# The raw output goes to $CARGO_TARGET_DIR/bench-domain.log (target/ by default),
# criterion's own data to $CARGO_TARGET_DIR/criterion/.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
mkdir -p "$target"
log="$target/bench-domain.log"

filter=()
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
  filter=("$1")
  shift
fi
[ "${1:-}" = "--" ] && shift

cargo bench -p carebook-domain --bench engine -- "${filter[@]}" "$@" | tee "$log"

echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "date: $(date -u +%Y-%m-%d), commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo
echo "| benchmark | time (median estimate) | 95 % interval |"
echo "| --- | --- | --- |"
# Criterion prints "<name>  time: [low unit mid unit high unit]", the name on the
# line before when it is long.
awk '
  /time:/ {
    line = $0
    sub(/^ +/, "", line)
    name = line
    sub(/ +time:.*/, "", name)
    if (name == line || name ~ /^time:/) name = previous
    interval = line
    sub(/.*time: +\[/, "", interval)
    sub(/\].*/, "", interval)
    split(interval, f, " ")
    printf "| %s | %s %s | %s %s – %s %s |\n", name, f[3], f[4], f[1], f[2], f[5], f[6]
  }
  { if ($0 !~ /^ *$/) previous = $1 }
' "$log"
