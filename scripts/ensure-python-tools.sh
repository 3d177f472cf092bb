#!/usr/bin/env bash
# Installs the Python tools the tests use (schemathesis, pinned below) into a venv
# OUTSIDE the clone: ${CAREBOOK_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/carebook-venv}.
# Installs only when the pinned version is missing; idempotent. Prints the path of the
# `schemathesis` executable's directory on its last line for humans; tests find it at
# $CAREBOOK_VENV/bin/schemathesis (tests/schemathesis.rs).
set -euo pipefail

SCHEMATHESIS_VERSION=4.32.5
VENV="${CAREBOOK_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/carebook-venv}"

installed() {
  [ -x "$VENV/bin/schemathesis" ] &&
    [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null)" = "$SCHEMATHESIS_VERSION" ]
}

if installed; then
  echo "schemathesis $SCHEMATHESIS_VERSION is installed in $VENV"
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

echo "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
rm -rf "$VENV"
python3 -m venv "$VENV"
if ! "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"; then
  echo "pip install schemathesis==$SCHEMATHESIS_VERSION failed: the API fuzz test needs it" >&2
  exit 1
fi
installed || { echo "schemathesis did not install into $VENV" >&2; exit 1; }
echo "schemathesis $SCHEMATHESIS_VERSION installed in $VENV"
