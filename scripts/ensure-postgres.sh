#!/usr/bin/env bash
# Makes sure a PostgreSQL server accepts connections at 127.0.0.1:5432 with trust
# authentication for the `postgres` user, as the tests expect: installs it from
# Debian's packages if absent, starts it if stopped. Idempotent.
set -euo pipefail

ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

if ready; then
  echo "PostgreSQL is accepting connections"
  exit 0
fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  echo "installing PostgreSQL from Debian's packages"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql postgresql-client >/dev/null
fi

version=$(ls /etc/postgresql | sort -V | tail -n 1)
conf=/etc/postgresql/$version/main
# Local test server: trust on loopback, as on the development machines.
if ! grep -q "carebook-tests" "$conf/pg_hba.conf"; then
  as_root sh -c "printf '%s\n' '# carebook-tests' 'host all all 127.0.0.1/32 trust' 'host all all ::1/128 trust' | cat - '$conf/pg_hba.conf' > '$conf/pg_hba.conf.new' && mv '$conf/pg_hba.conf.new' '$conf/pg_hba.conf'"
fi
as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true

for _ in $(seq 1 30); do
  if ready; then
    echo "PostgreSQL $version started"
    exit 0
  fi
  sleep 1
done
echo "PostgreSQL did not start" >&2
exit 1
