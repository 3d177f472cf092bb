#!/usr/bin/env bash
# Makes sure poppler's `pdftotext` (Debian package `poppler-utils`) is installed for
# the prescription PDF test (tests/api/prescriptions.rs), which reads carebook's PDF
# with this independent reader. Installs it with apt-get only when missing. Idempotent.
set -euo pipefail

present() { command -v pdftotext >/dev/null 2>&1; }

if present; then
  echo "pdftotext is installed"
  exit 0
fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

echo "installing poppler-utils from Debian's packages"
if ! as_root apt-get update -qq; then
  echo "apt-get update failed: cannot install poppler-utils for the PDF test" >&2
  exit 1
fi
if ! DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
    poppler-utils >/dev/null; then
  echo "apt-get install poppler-utils failed: the prescription PDF test needs pdftotext" >&2
  exit 1
fi
if ! present; then
  echo "poppler-utils is installed but pdftotext is not on PATH" >&2
  exit 1
fi
echo "pdftotext installed: $(pdftotext -v 2>&1 | head -n 1)"
