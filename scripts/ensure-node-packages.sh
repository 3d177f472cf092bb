#!/usr/bin/env bash
# Installs the browser tests' JavaScript tools (axe-core, pinned in package.json and
# package-lock.json) into node_modules/ with `npm ci`, only when missing. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -f node_modules/axe-core/axe.min.js ]; then
  echo "axe-core is installed"
  exit 0
fi
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v npm >/dev/null 2>&1; then
  echo "npm is missing: installing nodejs and npm from Debian's packages"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq nodejs npm >/dev/null || {
    echo "cannot install npm: the accessibility checks need axe-core from the npm registry" >&2
    exit 1
  }
fi
echo "installing axe-core with npm ci"
if ! npm ci --no-audit --no-fund --loglevel=error; then
  echo "npm ci failed: the accessibility checks need axe-core" >&2
  exit 1
fi
[ -f node_modules/axe-core/axe.min.js ] || { echo "npm ci did not install axe-core" >&2; exit 1; }
echo "axe-core $(node -p 'require("./node_modules/axe-core/package.json").version') installed"
