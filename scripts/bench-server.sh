# shellcheck shell=bash
# Sourced by the benchmark scripts (bench.sh, bench-ab.sh, bench-chat.sh,
# bench-frames.sh): starts and stops a carebook server under load, and finds the large
# clinic. Expects $work (a scratch folder holding an empty none.toml) and sets
# server_pid and address.

# Starts `$1/carebook serve` over the database URL $2, on a free loopback port, with
# the notification worker off and every rate limit off (the load comes from one
# address at rates no clinic reaches); extra VAR=value settings may follow. Waits
# until it says where it listens.
start_server() {
  local bin=$1 url=$2
  shift 2
  env CAREBOOK_CONFIG="$work/none.toml" CAREBOOK_OUTBOX_WORKER=false CAREBOOK_LOG=warn \
    CAREBOOK_MAIL_DIR="$work/mail" CAREBOOK_RATE_LIMIT_PER_TOKEN_PER_MINUTE=0 \
    CAREBOOK_RATE_LIMIT_PER_ADDRESS_PER_MINUTE=0 CAREBOOK_RATE_LIMIT_AUTH_PER_ADDRESS_PER_MINUTE=0 \
    "$@" "$bin/carebook" serve --listen 127.0.0.1:0 --database "$url" \
    >"$work/server.out" 2>"$work/server.err" &
  server_pid=$!
  address=""
  for _ in $(seq 1 600); do
    address=$(sed -n 's|^listening on http://||p' "$work/server.out" | head -n 1)
    [ -n "$address" ] && return 0
    if ! kill -0 "$server_pid" 2>/dev/null; then
      cat "$work/server.err" >&2
      echo "the server did not start" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "the server did not say where it listens" >&2
  exit 1
}

# Stops the server started last (SIGTERM: it finishes what is in flight).
stop_server() {
  kill -TERM "$server_pid"
  wait "$server_pid" || true
  server_pid=""
}

# For an EXIT trap: stops a server still running.
stop_server_if_running() {
  if [ -n "${server_pid:-}" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
}

# Prints the path of the large clinic's SQLite file to copy for each run: $CLINIC when
# set (kept unchanged), else one that `$1/carebook demo --scale large` generates in
# $work.
large_clinic() {
  local bin=$1
  if [ -n "${CLINIC:-}" ]; then
    echo "$CLINIC"
    return
  fi
  echo "generating the large clinic with $bin" >&2
  CAREBOOK_CONFIG="$work/none.toml" CAREBOOK_MAIL_DIR="$work/mail" \
    "$bin/carebook" demo --scale large --database "sqlite://$work/clinic.db" >/dev/null
  echo "$work/clinic.db"
}
