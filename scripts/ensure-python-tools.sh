#!/usr/bin/env bash
# Installs the Python tools the tests use, pinned below, into a venv OUTSIDE the
# clone: ${CAREBOOK_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/carebook-venv}.
# - schemathesis: API fuzzing ($CAREBOOK_VENV/bin/schemathesis, tests/schemathesis.rs);
# - moto's server: a local S3-compatible service for the attachment store
#   ($CAREBOOK_VENV/bin/moto_server, tests/attachments_s3.rs).
# Installs only when a pinned version is missing; idempotent.
set -euo pipefail

SCHEMATHESIS_VERSION=4.32.5
MOTO_VERSION=5.2.5
VENV="${CAREBOOK_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/carebook-venv}"

version_of() {
  "$VENV/bin/python" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null
}
installed() {
  [ -x "$VENV/bin/schemathesis" ] && [ "$(version_of schemathesis)" = "$SCHEMATHESIS_VERSION" ] &&
    [ -x "$VENV/bin/moto_server" ] && [ "$(version_of moto)" = "$MOTO_VERSION" ]
}

if installed; then
  echo "schemathesis $SCHEMATHESIS_VERSION and moto $MOTO_VERSION are installed in $VENV"
  exit 0
fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "python3 with venv is missing: installing python3-venv from Debian's packages"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3 python3-venv >/dev/null || {
    echo "cannot install python3-venv: the API fuzz test needs schemathesis" >&2
    exit 1
  }
fi

echo "installing schemathesis $SCHEMATHESIS_VERSION and moto $MOTO_VERSION into $VENV"
[ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
if ! "$VENV/bin/pip" install --quiet --disable-pip-version-check \
  "schemathesis==$SCHEMATHESIS_VERSION" "moto[server]==$MOTO_VERSION"; then
  echo "pip install failed: the API fuzz test needs schemathesis, the S3 attachment test moto" >&2
  exit 1
fi
installed || { echo "schemathesis or moto did not install into $VENV" >&2; exit 1; }
echo "schemathesis $SCHEMATHESIS_VERSION and moto $MOTO_VERSION installed in $VENV"
