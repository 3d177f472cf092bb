#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 30) against its
# committed corpus fuzz/corpus/<target>. New inputs go to a scratch folder, so the
# committed corpus stays small; with --update-corpus they are merged into it,
# minimised (libFuzzer -merge=1 keeps only inputs that add coverage).
#
#   scripts/fuzz.sh [--update-corpus] [SECONDS] [TARGET...]
#
# A crash stops the run with a non-zero exit; the input is in fuzz/artifacts/<target>/
# (reproduce: scripts/fuzz.sh --repro fuzz/artifacts/<target>/crash-…).
#
# cargo-fuzz passes -Z flags to rustc. No nightly toolchain is needed: the stable
# compiler accepts them with RUSTC_BOOTSTRAP=1, set here for this build only. No
# sanitizer (-s none): carebook is #![forbid(unsafe_code)], so what libFuzzer looks
# for is panics, overflow (debug assertions are on) and failed invariants.
set -euo pipefail
cd "$(dirname "$0")/.."

update=0
if [ "${1:-}" = "--update-corpus" ]; then update=1; shift; fi
if [ "${1:-}" = "--repro" ]; then
  artifact="$2"
  target="$(basename "$(dirname "$artifact")")"
  set -- repro "$target" "$artifact"
fi

scripts/ensure-cargo-fuzz.sh >/dev/null
TOOLS="${CAREBOOK_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/carebook-tools}"
export PATH="$TOOLS/bin:$PATH"
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CAREBOOK_FUZZ_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/carebook-fuzz-target}"
FUZZ=(cargo fuzz)

if [ "${1:-}" = "repro" ]; then
  exec "${FUZZ[@]}" run -s none "$2" "$3"
fi

seconds="${1:-30}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <("${FUZZ[@]}" list)
fi

echo "building ${#targets[@]} fuzz targets"
"${FUZZ[@]}" build -s none >/dev/null

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
  corpus="fuzz/corpus/$target"
  mkdir -p "$corpus" "fuzz/artifacts/$target" "$scratch/$target"
  echo "== $target: ${seconds}s from $(ls "$corpus" | wc -l) corpus inputs"
  if ! "${FUZZ[@]}" run -s none "$target" "$scratch/$target" "$corpus" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=4096 \
      -artifact_prefix="fuzz/artifacts/$target/" -print_final_stats=1 \
      >"$scratch/$target.log" 2>&1; then
    tail -n 40 "$scratch/$target.log"
    echo "fuzz target $target FAILED; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E "^Done|stat::number_of_executed_units|cov: " "$scratch/$target.log" | tail -n 2
  if [ "$update" = 1 ]; then
    merged="$scratch/$target.merged"
    mkdir -p "$merged"
    "${FUZZ[@]}" run -s none "$target" "$merged" "$corpus" "$scratch/$target" -- -merge=1 \
      >"$scratch/$target.merge.log" 2>&1
    rm -rf "$corpus" && mv "$merged" "$corpus"
    echo "   corpus now $(ls "$corpus" | wc -l) inputs, $(du -sk "$corpus" | cut -f1) KiB"
  fi
done
echo "all ${#targets[@]} fuzz targets ran ${seconds}s each without a failure"
