#!/usr/bin/env bash
# Before and after figures for one change, on a noisy machine: builds the release
# binaries of two git revisions, generates the large clinic once, then runs one
# carebook-load scenario against each build in turn (A B, B A, A B, ...), every run
# on a fresh copy of the clinic with the disk flushed after the copy, so that
# neither build always runs right after the other's writes. Prints every run, then
# each build's mean and median; compare those, not single runs (the same binary
# varies by ±10 % from run to run on the 2-core machines, docs/BENCHMARKS.md).
#
#   scripts/bench-ab.sh BEFORE AFTER      e.g. scripts/bench-ab.sh HEAD~1 HEAD
#
# Environment (all optional):
#   ROUNDS=4            pairs of runs (each build runs ROUNDS times)
#   SCENARIO=book       a carebook-load scenario
#   CONNECTIONS=64
#   DURATION=15         seconds per run
#   PATIENTS=200        patients logged in (each takes no two overlapping slots)
#   CLINIC=FILE         a large clinic's SQLite file to copy instead of generating one
#                       (made by `carebook demo --scale large`; kept unchanged)
# SQLite only. Never run by CI: it takes minutes and measures the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -ne 2 ]; then
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
ROUNDS=${ROUNDS:-4}
SCENARIO=${SCENARIO:-book}
CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-15}
PATIENTS=${PATIENTS:-200}
export CARGO_TERM_COLOR=never
# A target folder of its own: the worktrees' builds would otherwise leave their
# binaries where `cargo build --release` in the repository (scripts/bench.sh) finds
# its own build up to date and keeps them.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}/bench-ab

work=$(mktemp -d)
server_pid=""
. scripts/bench-server.sh
cleanup() {
  stop_server_if_running
  for tree in "$work"/tree-*; do
    [ -d "$tree" ] && git worktree remove --force "$tree" >/dev/null 2>&1
  done
  rm -rf "$work"
}
trap cleanup EXIT
: >"$work/none.toml"
git worktree prune

# Builds revision $2 into $work/bin-$1.
build() {
  local name=$1 revision=$2
  local commit
  commit=$(git rev-parse --verify --quiet "$revision^{commit}") || {
    echo "$revision is not a revision of this repository" >&2
    exit 2
  }
  echo "building $name = $revision (${commit:0:7})" >&2
  git worktree add --detach --quiet "$work/tree-$name" "$commit"
  (cd "$work/tree-$name" && cargo build --release --locked -p carebook -p carebook-load >&2)
  mkdir -p "$work/bin-$name"
  cp "$CARGO_TARGET_DIR/release/carebook" "$CARGO_TARGET_DIR/release/carebook-load" "$work/bin-$name/"
  echo "${commit:0:7}" >"$work/commit-$name"
}
build A "$1"
build B "$2"

clinic=$(large_clinic "$work/bin-A")

# Runs build $1 once on a fresh copy of the clinic; prints "req/s p99".
run() {
  local bin="$work/bin-$1" db="$work/run.db"
  rm -f "$db" "$db-wal" "$db-shm"
  cp "$clinic" "$db"
  sync
  sleep 1
  start_server "$bin" "sqlite://$db"
  "$bin/carebook-load" --url "http://$address" --scenarios "$SCENARIO" \
    --connections "$CONNECTIONS" --duration "$DURATION" --patients-from-demo "$PATIENTS" \
    --patient-email 'patient{n:06}@demo.carebook.test' --server-pid "$server_pid" \
    --database "sqlite://$db" --markdown >"$work/table.md"
  stop_server
  # | scenario | conns | req/s | ok/s | p50 | p95 | p99 | ...
  awk -F'|' -v s="$SCENARIO" '$2 ~ " "s" " { gsub(/ /, ""); print $4, $8; exit }' "$work/table.md"
}

echo "| round | build | req/s | p99 ms |"
echo "|---|---|---|---|"
for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) -eq 1 ]; then order="A B"; else order="B A"; fi
  for name in $order; do
    read -r rate p99 < <(run "$name") || true
    [ -n "${rate:-}" ] || { echo "run $round of $name gave no figures" >&2; exit 1; }
    echo "$name $rate $p99" >>"$work/results"
    echo "| $round | $name | $rate | $p99 |"
  done
done

echo
echo "| build | commit | runs | mean req/s | median req/s | mean p99 ms |"
echo "|---|---|---|---|---|---|"
for name in A B; do
  awk -v n="$name" -v c="$(cat "$work/commit-$name")" '
    $1 == n { rate[++k] = $2; sum += $2; p99 += $3 }
    END {
      for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++)
        if (rate[j] < rate[i]) { t = rate[i]; rate[i] = rate[j]; rate[j] = t }
      median = (k % 2) ? rate[(k + 1) / 2] : (rate[k / 2] + rate[k / 2 + 1]) / 2
      printf "| %s | %s | %d | %.0f | %.0f | %.1f |\n", n, c, k, sum / k, median, p99 / k
    }' "$work/results"
done
