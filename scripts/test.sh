#!/usr/bin/env bash
# The whole test suite: unit tests, the emulator's own tests, and the integration tests
# that drive the real acrctl binary against the emulator, the real docker-registry,
# skopeo, the docker CLI and kubectl.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-real-parts.sh
cargo fmt --all -- --check
# CI=true makes a missing real part a failure instead of a skipped test.
CI="${CI:-true}" cargo test --workspace --locked
