#!/usr/bin/env bash
# Benchmark (not a test): `acrctl login -n REG --expose-token` through the session of
# `acrctl auth login` (no service principal, no az on PATH) against the local emulator:
# warm (the token cache holds the ACR refresh token: no request at all), Entra warm (the
# cached Entra token is exchanged at the registry), and cold (--no-cache: a refresh-token
# grant, which rotates the stored refresh token, then the exchange). The comparison with
# the real Azure CLI source is made on a real tenant (the proof issue), not here.
# Results: target/bench/auth.{md,json}.
#
#   benches/auth.sh [RUNS]        (default 30 runs per command)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-30}"
scripts/install-real-parts.sh hyperfine
cargo build --release --locked -p acrctl -p acrctl-emulator
bin="${CARGO_TARGET_DIR:-$PWD/target}/release"
out="$PWD/target/bench"
state="$out/emulator-auth"
rm -rf "$state" && mkdir -p "$out"

. scripts/emulator.sh
start_emulator "$state" --device-code-interval-secs 1
unset AZURE_CLIENT_ID AZURE_CLIENT_SECRET AZURE_TENANT_ID
export DOCKER_CONFIG="$out/docker" AZURE_POD_IDENTITY_AUTHORITY_HOST=http://127.0.0.1:9
export ACRCTL_STATE_DIR="$out/auth-state" ACRCTL_CACHE_DIR="$out/auth-cache"
# No az: drop its directory from PATH, so the session is the only source that can apply.
if az_path=$(command -v az 2>/dev/null); then
  PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -vx "$(dirname "$az_path")" | paste -sd:)
fi
rm -rf "$ACRCTL_STATE_DIR" "$ACRCTL_CACHE_DIR"
admin="${ACRCTL_ARM_ENDPOINT%/}/_emulator"
server="$ACRCTL_EMULATOR_REGISTRY"

# Sign in with the device code flow, playing the user through the emulator's admin API.
"$bin/acrctl" auth login --use-device-code >/dev/null 2>"$out/auth-login.err" &
login=$!
for _ in $(seq 100); do grep -q 'enter the code' "$out/auth-login.err" && break; sleep 0.1; done
code=$(sed -n 's/.*enter the code \([A-Z0-9]*\) .*/\1/p' "$out/auth-login.err")
/usr/bin/curl -fsS --cacert "$SSL_CERT_FILE" -X POST "$admin/device-codes/$code/approve"
wait $login
"$bin/acrctl" login -n "$server" --expose-token -o none   # warms the cache

declare -A cmds=(
  [warm]="$bin/acrctl login -n $server --expose-token -o none"
  [cold]="$bin/acrctl --no-cache login -n $server --expose-token -o none"
)
hyperfine -N --warmup 3 --runs "$runs" --export-json "$out/hyperfine-auth.json" \
  -n warm "${cmds[warm]}" -n cold "${cmds[cold]}" >/dev/null

peak_rss() {
  local max=0 kb tmp="$out/rss.tmp"
  for _ in 1 2 3 4 5; do
    # shellcheck disable=SC2086 # the command line is split on purpose
    /usr/bin/time -f %M -o "$tmp" $1 >/dev/null 2>&1 || true
    kb=$(tail -1 "$tmp")
    [ "$kb" -gt "$max" ] && max=$kb
  done
  echo "$max"
}
{
  echo "| command (session source) | median ms | mean ms | peak RSS MB |"
  echo "|---|---|---|---|"
  for name in warm cold; do
    median=$(jq -r --arg n "$name" '.results[] | select(.command==$n) | .median*1000 | .*100|round/100' "$out/hyperfine-auth.json")
    mean=$(jq -r --arg n "$name" '.results[] | select(.command==$n) | .mean*1000 | .*100|round/100' "$out/hyperfine-auth.json")
    rss=$(peak_rss "${cmds[$name]}")
    case $name in warm) label='login --expose-token, warm cache';; cold) label='login --expose-token, --no-cache (refresh grant + exchange)';; esac
    echo "| $label | $median | $mean | $(awk -v k="$rss" 'BEGIN{printf "%.1f", k/1024}') |"
  done
} | tee "$out/auth.md"
jq '{results: [.results[] | {command, median_ms: (.median*1000), mean_ms: (.mean*1000), runs: (.times|length)}]}' "$out/hyperfine-auth.json" >"$out/auth.json"
"$bin/acrctl" auth logout
echo "Written: $out/auth.md, $out/auth.json (machine: $(nproc) cores)"
