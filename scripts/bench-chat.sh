#!/usr/bin/env bash
# The live channel's figures (issue 10), reproducibly: builds the release binaries,
# loads the large clinic into a fresh SQLite database (or uses DATABASE when given,
# e.g. one an earlier run kept with KEEP=1), starts `carebook serve` on a free
# loopback port with the chat rate limit off (one message a second is over the
# default 30 a minute), opens IDLE idle sockets and PAIRS chatting pairs with
# carebook-chat-load, and prints a Markdown table; the JSON report goes to
# target/bench/chat.json.
#
# Environment (all optional):
#   IDLE=2000  PAIRS=100  RATE=1  DURATION=30
#   DATABASE=sqlite://PATH   an already loaded large clinic (skips the ~minutes of loading)
#   KEEP=1                   keep the database made here (its path is printed)
# Never run by CI: it takes minutes and measures the machine it runs on.
set -euo pipefail
cd "$(dirname "$0")/.."

IDLE=${IDLE:-2000}
PAIRS=${PAIRS:-100}
RATE=${RATE:-1}
DURATION=${DURATION:-30}
export CARGO_TERM_COLOR=never

echo "building release binaries" >&2
cargo build --release --locked -p carebook -p carebook-load >&2
bin="${CARGO_TARGET_DIR:-target}/release"
out=target/bench
mkdir -p "$out"
work=$(mktemp -d)
server_pid=""
. scripts/bench-server.sh
cleanup() {
  stop_server_if_running
  rm -rf "$work"
}
trap cleanup EXIT
touch "$work/none.toml"

if [ -z "${DATABASE:-}" ]; then
  if [ "${KEEP:-}" = 1 ]; then
    DATABASE="sqlite://$(mktemp -d)/large.db"
  else
    DATABASE="sqlite://$work/large.db"
  fi
  echo "loading the large clinic into $DATABASE" >&2
  CAREBOOK_CONFIG="$work/none.toml" "$bin/carebook" migrate --database "$DATABASE" >&2
  CAREBOOK_CONFIG="$work/none.toml" CAREBOOK_MAIL_DIR="$work/mail" \
    "$bin/carebook" demo --scale large --database "$DATABASE" >&2
fi

# Each socket is a file descriptor on both ends.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
start_server "$bin" "$DATABASE" CAREBOOK_CHAT_MESSAGES_PER_MINUTE=0

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)
echo "# Live channel (carebook-chat-load)"
echo
echo "- machine: $(nproc) cores ($cpu), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -sr)"
echo "- date: $(date -u +%Y-%m-%dT%H:%MZ); commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "- SQLite, large clinic; $IDLE idle sockets, $PAIRS pairs at $RATE message/s per socket for $DURATION s"
echo
status=0
"$bin/carebook-chat-load" --url "http://$address" --idle "$IDLE" --pairs "$PAIRS" \
  --rate "$RATE" --duration "$DURATION" --patients "$((PAIRS + 100))" \
  --server-pid "$server_pid" --json-out "$out/chat.json" || status=$?
[ "${KEEP:-}" = 1 ] && echo "kept: $DATABASE" >&2
exit "$status"
