#!/usr/bin/env bash
# Benchmark (not a test): acrctl side by side with the real Azure CLI, same emulator,
# same machine, interleaved runs; plus how acrctl scales to 1, 10 and 50 registries and
# clusters in one call. Results: target/bench/vs-az.{md,json}.
#
#   benches/vs-az.sh [RUNS]     (default 10; the first azure-cli install takes ~3 min)
#
# azure-cli is installed from PyPI into a venv this script owns and reuses
# ($ACRCTL_BENCH_HOME, default ~/.cache/acrctl-bench). It talks to the emulator as a
# custom cloud: `az cloud register` reads the emulator's metadata/endpoints, instance
# discovery is off (MSAL would ask login.microsoftonline.com), and REQUESTS_CA_BUNDLE
# trusts the emulator's CA.
set -euo pipefail
cd "$(dirname "$0")/.."
export BENCH_RUNS="${1:-10}"
home="${ACRCTL_BENCH_HOME:-$HOME/.cache/acrctl-bench}"
venv="$home/azvenv"
if [ ! -x "$venv/bin/az" ]; then
  echo "Installing azure-cli into $venv (once)..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q azure-cli
fi
cargo build --release --locked -p acrctl -p acrctl-emulator
bin="$PWD/target/release"
out="$PWD/target/bench"
state="$out/vs-az-emulator"
rm -rf "$state" && mkdir -p "$out"

regs=()
for i in $(seq 1 50); do regs+=(--registry "registry$i"); done
. scripts/emulator.sh
start_emulator "$state" "${regs[@]}" --fleet-clusters 50
export AZURE_POD_IDENTITY_AUTHORITY_HOST=http://127.0.0.1:9
export ACRCTL_CACHE_DIR="$out/vs-az-cache" && rm -rf "$ACRCTL_CACHE_DIR"
export DOCKER_CONFIG="$out/vs-az-docker"

export AZURE_CONFIG_DIR="$out/vs-az-azconfig" && rm -rf "$AZURE_CONFIG_DIR"
export REQUESTS_CA_BUNDLE="$SSL_CERT_FILE" AZURE_CORE_INSTANCE_DISCOVERY=false AZURE_CORE_COLLECT_TELEMETRY=false AZURE_CORE_NO_COLOR=true
az="$venv/bin/az"
"$az" config set core.instance_discovery=false core.collect_telemetry=false >/dev/null 2>&1
"$az" cloud register --name AcrctlEmulator --endpoint-resource-manager "${ACRCTL_ARM_ENDPOINT%/}" >/dev/null
"$az" cloud set --name AcrctlEmulator >/dev/null 2>&1
"$az" login --service-principal -u "$AZURE_CLIENT_ID" -p "$AZURE_CLIENT_SECRET" --tenant "$AZURE_TENANT_ID" -o none
"$az" account set --subscription "$AZURE_SUBSCRIPTION_ID"

BENCH_OUT="$out" ACRCTL_BIN="$bin/acrctl" AZ_BIN="$az" EMULATOR_INFO="$state/info.json" python3 benches/vs_az.py
