#!/usr/bin/env bash
# Makes sure Debian's Chromium and ChromeDriver are installed for the browser tests
# (tests/browser): /usr/bin/chromium and /usr/bin/chromedriver, packages `chromium`
# and `chromium-driver`. Installs them with apt-get only when missing; no browser is
# downloaded from anywhere else. Idempotent.
set -euo pipefail

present() { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; }

if present; then
  echo "Chromium and ChromeDriver are installed"
  exit 0
fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

echo "installing chromium and chromium-driver from Debian's packages"
if ! as_root apt-get update -qq; then
  echo "apt-get update failed: cannot install Chromium for the browser tests" >&2
  exit 1
fi
if ! DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
    chromium chromium-driver >/dev/null; then
  echo "apt-get install chromium chromium-driver failed: the browser tests need them" >&2
  exit 1
fi
if ! present; then
  echo "chromium-driver is installed but /usr/bin/chromium or /usr/bin/chromedriver is missing" >&2
  exit 1
fi
echo "Chromium and ChromeDriver installed: $(/usr/bin/chromedriver --version | head -n 1)"
