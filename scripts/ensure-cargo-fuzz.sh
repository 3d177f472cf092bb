#!/usr/bin/env bash
# Installs cargo-fuzz (pinned below) from crates.io into a cache folder outside the
# clone: ${CAREBOOK_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/carebook-tools}/bin. Only
# when the pinned version is missing; idempotent. scripts/fuzz.sh uses it.
set -euo pipefail

CARGO_FUZZ_VERSION=0.13.2
ROOT="${CAREBOOK_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/carebook-tools}"

if [ -x "$ROOT/bin/cargo-fuzz" ] && "$ROOT/bin/cargo-fuzz" --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
  echo "cargo-fuzz $CARGO_FUZZ_VERSION is installed in $ROOT/bin"
  exit 0
fi
echo "installing cargo-fuzz $CARGO_FUZZ_VERSION into $ROOT"
if ! cargo install --quiet --locked --version "$CARGO_FUZZ_VERSION" --root "$ROOT" cargo-fuzz; then
  echo "cargo install cargo-fuzz failed: scripts/fuzz.sh needs it" >&2
  exit 1
fi
echo "cargo-fuzz $CARGO_FUZZ_VERSION installed in $ROOT/bin"
