#!/usr/bin/env bash
# HTTP load figures, reproducibly: builds the release binaries, then for each backend
# (SQLite, and PostgreSQL when it answers at 127.0.0.1:5432) loads the demo into a
# fresh database, starts `carebook serve` on a free loopback port with the
# notification worker off, runs every carebook-load scenario at 16 and 64
# connections for DURATION seconds each, and stops the server. The JSON reports go
# to target/bench/<backend>.json, a Markdown summary to standard output.
#
# Environment (all optional):
#   DURATION=10          seconds per scenario and connection count
#   CONNECTIONS=16,64    connection counts
#   SCENARIOS=...        default: hello,slots,search,book,contested,mixed
#   SCALE=large          passed as `carebook demo --scale $SCALE` where that flag exists
#   ROUNDS=1             passes over the scenarios (hello, slots, ... then again): each
#                        round's slots/hello ratio compares runs taken seconds apart
#   BACKENDS="sqlite postgres"
#   PATIENTS=50          patients to log in (200 with SCALE=large); PATIENT_EMAIL, PASSWORD:
#                        see carebook-load --help
#   POSTGRES_URL=postgres://postgres@127.0.0.1:5432   (an account that may create databases)
# Never run by CI: it takes minutes and measures the machine it runs on.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-16,64}
SCENARIOS=${SCENARIOS:-hello,slots,search,book,contested,mixed}
BACKENDS=${BACKENDS:-sqlite postgres}
# A patient takes no two slots that overlap, so the patients logged in bound how many
# bookings the scenarios can make: on the large clinic 50 patients leave about 69,000
# slots, which book at 16 and 64 connections and mixed use up within their 10 s each
# on a fast machine (then mixed books nothing); 200 leave about 230,000.
if [ "${SCALE:-}" = "large" ]; then
  PATIENTS=${PATIENTS:-200}
else
  PATIENTS=${PATIENTS:-50}
fi
POSTGRES_URL=${POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}
export CARGO_TERM_COLOR=never

echo "building release binaries" >&2
cargo build --release --locked -p carebook -p carebook-load >&2
bin="${CARGO_TARGET_DIR:-target}/release"
out=target/bench
mkdir -p "$out"
work=$(mktemp -d)
server_pid=""
pg_database=""

cleanup() {
  stop_server_if_running
  if [ -n "$pg_database" ]; then
    psql -q "$POSTGRES_URL/postgres" -c "DROP DATABASE IF EXISTS $pg_database WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

demo_args=()
if [ -n "${SCALE:-}" ]; then
  if "$bin/carebook" demo --help 2>/dev/null | grep -q -- '--scale'; then
    demo_args=(--scale "$SCALE")
  else
    echo "warning: this carebook has no 'demo --scale'; loading the small demo" >&2
  fi
fi

load_args=(--scenarios "$SCENARIOS" --connections "$CONNECTIONS" --duration "$DURATION"
  --patients-from-demo "$PATIENTS" --rounds "${ROUNDS:-1}")
# The large clinic's patients are patient000001.. (six digits).
if [ -z "${PATIENT_EMAIL:-}" ] && [ "${SCALE:-}" = "large" ]; then
  PATIENT_EMAIL='patient{n:06}@demo.carebook.test'
fi
[ -n "${PATIENT_EMAIL:-}" ] && load_args+=(--patient-email "$PATIENT_EMAIL")
[ -n "${PASSWORD:-}" ] && load_args+=(--password "$PASSWORD")

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)
memory=$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain 2>/dev/null | grep -qv '^??' && echo " (with local changes)" || true)
date=$(date -u +%Y-%m-%dT%H:%MZ)
{
  echo "- machine: $(nproc) cores ($cpu), $memory, $(uname -sr)"
  echo "- date: $date; commit: $commit$dirty"
  echo "- demo: ${SCALE:-small}${demo_args[*]:+ (--scale $SCALE)}; $DURATION s per scenario and connection count"
} > "$out/meta.md"

. scripts/bench-server.sh

echo "# HTTP load (carebook-load)"
echo
cat "$out/meta.md"
for backend in $BACKENDS; do
  case $backend in
    sqlite)
      url="sqlite://$work/bench.db"
      ;;
    postgres)
      if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
        echo "PostgreSQL does not answer at 127.0.0.1:5432: skipped" >&2
        continue
      fi
      pg_database="carebook_bench_$(date +%s)"
      psql -q "$POSTGRES_URL/postgres" -c "CREATE DATABASE $pg_database" >/dev/null
      url="$POSTGRES_URL/$pg_database"
      ;;
    *)
      echo "unknown backend $backend" >&2
      exit 2
      ;;
  esac
  echo "$backend: loading the demo" >&2
  CAREBOOK_CONFIG="$work/none.toml" CAREBOOK_MAIL_DIR="$work/mail" \
    "$bin/carebook" migrate --database "$url" >&2
  CAREBOOK_CONFIG="$work/none.toml" CAREBOOK_MAIL_DIR="$work/mail" \
    "$bin/carebook" demo --database "$url" "${demo_args[@]}" >&2
  start_server "$bin" "$url"
  echo "$backend: carebook (pid $server_pid) at $address" >&2
  status=0
  "$bin/carebook-load" --url "http://$address" "${load_args[@]}" \
    --server-pid "$server_pid" --database "$url" \
    --json-out "$out/$backend.json" --markdown >"$work/table.md" || status=$?
  stop_server
  echo
  echo "## $backend"
  echo
  cat "$work/table.md"
  if [ "$status" != 0 ]; then
    echo "carebook-load failed on $backend (exit $status)" >&2
    exit "$status"
  fi
  if [ "$backend" = postgres ]; then
    psql -q "$POSTGRES_URL/postgres" -c "DROP DATABASE $pg_database WITH (FORCE)" >/dev/null
    pg_database=""
  fi
done
echo
echo "JSON reports: $out/" >&2
