#!/usr/bin/env bash
# Refreshes the committed screenshots in docs/screenshots/ (shown in the README):
# runs the browser tests' screenshot test with CAREBOOK_SCREENSHOTS=1. Needs Chromium
# (scripts/ensure-chromium.sh) and axe-core (scripts/ensure-node-packages.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-chromium.sh
scripts/ensure-node-packages.sh
CI=true CAREBOOK_SCREENSHOTS=1 cargo test --test browser screen -- --nocapture
ls -l docs/screenshots/
