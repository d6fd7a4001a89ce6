#!/usr/bin/env bash
# Runs each cargo-fuzz target for a bounded time (default 60 s each); not part of CI.
# Crashing inputs land in fuzz/artifacts/<target>/; copy them to tests/fuzz_regressions/
# <target>/ so that `cargo test` replays them forever after (tests/fuzz_regressions.rs).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# cargo-fuzz wants a nightly compiler; this machine has only stable, so the script uses
# RUSTC_BOOTSTRAP=1 to unlock the sanitizer flags on the stable toolchain.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-60}"; shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(www_authenticate docker_config_merge cloud_metadata jwt_claims)
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  seeds="../tests/fuzz_regressions/$t"
  [ -d "$seeds" ] && cp -n "$seeds"/* "corpus/$t/" 2>/dev/null || true
  echo "== $t ($seconds s)"
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" --sanitizer address -- -max_total_time="$seconds" -rss_limit_mb=2048 2>&1 | tail -4
done
