#!/usr/bin/env bash
# Which B-trees a booking's writes land in: runs the `book` scenario against the
# release build on a fresh copy of the large clinic, copies the database and its WAL
# in the middle of the run, and maps every frame of the WAL's current generation to
# the table or index that owns its page (SQLite's `dbstat`, through Python's sqlite3).
# Prints the frames per commit and each B-tree's share. A booking writes about one
# random leaf per index keyed by a person; this shows which ones, and how many frames
# a commit writes (docs/BENCHMARKS.md, sessions 15 and 29).
#
#   scripts/bench-frames.sh
#
# Environment (all optional):
#   CLINIC=FILE      a large clinic's SQLite file to copy instead of generating one
#   CONNECTIONS=64
#   DURATION=15      seconds of booking
#   COPY_AFTER=8     seconds into the run when the WAL is copied
#   PATIENTS=200     patients logged in
# SQLite only. Never run by CI: it measures the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-15}
COPY_AFTER=${COPY_AFTER:-8}
PATIENTS=${PATIENTS:-200}
export CARGO_TERM_COLOR=never

if ! python3 -c 'import sqlite3; sqlite3.connect(":memory:").execute("SELECT count(*) FROM dbstat")' 2>/dev/null; then
  echo "bench-frames needs python3 with an SQLite that has the dbstat table (SQLITE_ENABLE_DBSTAT_VTAB)" >&2
  exit 1
fi

work=$(mktemp -d)
server_pid=""
. scripts/bench-server.sh
trap 'stop_server_if_running; rm -rf "$work"' EXIT
: >"$work/none.toml"

cargo build --release --locked -p carebook -p carebook-load >&2
bin=${CARGO_TARGET_DIR:-target}/release
clinic=$(large_clinic "$bin")

db="$work/run.db"
cp "$clinic" "$db"
sync
start_server "$bin" "sqlite://$db"
(
  sleep "$COPY_AFTER"
  # The WAL first: frames committed after the database's copy only add pages that
  # the copy of the WAL holds too.
  cp "$db-wal" "$work/copy.db-wal.tmp"
  cp "$db" "$work/copy.db"
  mv "$work/copy.db-wal.tmp" "$work/copy.db-wal"
) &
copier=$!
"$bin/carebook-load" --url "http://$address" --scenarios book \
  --connections "$CONNECTIONS" --duration "$DURATION" --patients-from-demo "$PATIENTS" \
  --patient-email 'patient{n:06}@demo.carebook.test' --server-pid "$server_pid" \
  --markdown >"$work/table.md"
wait "$copier"
stop_server
grep '| book ' "$work/table.md"

python3 - "$work/copy.db" <<'PY'
import collections, sqlite3, struct, sys

database = sys.argv[1]
with open(database + "-wal", "rb") as f:
    wal = f.read()
page_size, _, salt1, salt2 = struct.unpack(">IIII", wal[8:24])
pages, commits, at = [], 0, 32
# The frames of the current generation: those whose salts are the header's.
while at + 24 + page_size <= len(wal):
    page, commit, s1, s2 = struct.unpack(">IIII", wal[at:at + 16])
    if (s1, s2) != (salt1, salt2):
        break
    pages.append(page)
    commits += commit != 0
    at += 24 + page_size
if not commits:
    sys.exit("the WAL's copy holds no commit")
# Opened with its WAL, the copy knows the pages the WAL added.
owner = dict((p, n) for n, p in sqlite3.connect(database).execute("SELECT name, pageno FROM dbstat"))
counts = collections.Counter(owner.get(p, "(not found)") for p in pages)
print(f"\n{len(pages)} frames in {commits} commits: {len(pages) / commits:.0f} per commit\n")
print("| B-tree | frames | share | per commit |")
print("|---|---|---|---|")
for name, n in counts.most_common():
    print(f"| {name} | {n} | {100 * n / len(pages):.1f} % | {n / commits:.1f} |")
PY
