#!/usr/bin/env bash
# Benchmark (not a test): median wall time and peak RSS of `acrctl --version` and
# `acrctl login --expose-token` against the local emulator, and how login time grows
# with 1, 10 and 50 registries in one call. Results: target/bench/login.{md,json}.
#
#   benches/login.sh [RUNS]        (default 30 runs per command)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-30}"
scripts/install-real-parts.sh hyperfine
cargo build --release --locked -p acrctl -p acrctl-emulator
bin="$PWD/target/release"
out="$PWD/target/bench"
state="$out/emulator"
rm -rf "$state" && mkdir -p "$out"

regs=()
for i in $(seq 1 50); do regs+=(--registry "registry$i"); done
. scripts/emulator.sh
start_emulator "$state" "${regs[@]}"
export DOCKER_CONFIG="$out/docker" AZURE_POD_IDENTITY_AUTHORITY_HOST=http://127.0.0.1:9

mapfile -t servers < <(jq -r '.registries[].login_server' "$state/info.json")
names() { local n=$1; for s in "${servers[@]:0:$n}"; do printf -- '-n %s ' "$s"; done; }

export ACRCTL_CACHE_DIR="$out/cache"
rm -rf "$ACRCTL_CACHE_DIR"
# The credential helper's `get`: warm (token cache hit, no request) and cold (--no-cache).
printf '%s' "${servers[0]}" >"$out/server.txt"
"$bin/acrctl" credential-helper get <"$out/server.txt" >/dev/null

declare -A cmds=(
  [version]="$bin/acrctl --version"
  [login1]="$bin/acrctl login $(names 1) --expose-token -o none"
  [login10]="$bin/acrctl login $(names 10) --expose-token -o none"
  [login50]="$bin/acrctl login $(names 50) --expose-token -o none"
  [getwarm]="$bin/acrctl credential-helper get"
  [getcold]="$bin/acrctl --no-cache credential-helper get"
)
order=(version login1 login10 login50 getwarm getcold)

# Peak RSS in kB over a few runs (GNU time's %M), the largest seen.
peak_rss() {
  local max=0 kb tmp="$out/rss.tmp"
  for _ in 1 2 3 4 5; do
    # shellcheck disable=SC2086 # the command line is split on purpose
    /usr/bin/time -f %M -o "$tmp" $1 <"$out/server.txt" >/dev/null 2>&1 || true
    kb=$(tail -1 "$tmp")
    [ "$kb" -gt "$max" ] && max=$kb
  done
  echo "$max"
}

# The login rows bypass the cache, so they measure the whole exchange every time.
for name in login1 login10 login50; do cmds[$name]="${cmds[$name]} --no-cache"; done
hyperfine -N --warmup 3 --runs "$runs" --export-json "$out/hyperfine.json" \
  -n version "${cmds[version]}" -n login1 "${cmds[login1]}" -n login10 "${cmds[login10]}" -n login50 "${cmds[login50]}" >/dev/null
# stdin needs a shell; hyperfine subtracts the shell's own start-up from these.
hyperfine --shell sh --warmup 3 --runs "$runs" --export-json "$out/hyperfine-helper.json" \
  -n getwarm "${cmds[getwarm]} <$out/server.txt" -n getcold "${cmds[getcold]} <$out/server.txt" >/dev/null
jq -s '{results: (.[0].results + .[1].results)}' "$out/hyperfine.json" "$out/hyperfine-helper.json" >"$out/all.json" && mv "$out/all.json" "$out/hyperfine.json"

{
  echo "| command | median ms | mean ms | peak RSS MB |"
  echo "|---|---|---|---|"
  for name in "${order[@]}"; do
    median=$(jq -r --arg n "$name" '.results[] | select(.command==$n) | .median*1000 | .*100|round/100' "$out/hyperfine.json")
    mean=$(jq -r --arg n "$name" '.results[] | select(.command==$n) | .mean*1000 | .*100|round/100' "$out/hyperfine.json")
    rss=$(peak_rss "${cmds[$name]}")
    label=$name
    case $name in version) label='acrctl --version';; login1) label='login --expose-token, 1 registry';; login10) label='login --expose-token, 10 registries';; login50) label='login --expose-token, 50 registries';; getwarm) label='credential-helper get, warm cache';; getcold) label='credential-helper get, no cache';; esac
    echo "| $label | $median | $mean | $(awk -v k="$rss" 'BEGIN{printf "%.1f", k/1024}') |"
  done
} | tee "$out/login.md"
jq '{results: [.results[] | {command, median_ms: (.median*1000), mean_ms: (.mean*1000), runs: (.times|length)}]}' "$out/hyperfine.json" >"$out/login.json"
echo "Written: $out/login.md, $out/login.json (machine: $(nproc) cores)"
