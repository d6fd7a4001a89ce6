#!/usr/bin/env bash
# The demo: builds acrctl and the emulator, starts the emulator with a real registry
# (Debian's docker-registry) holding samples/hello:v1, logs in with `acrctl login` as
# the emulator's service principal, and pulls the image with skopeo and the docker CLI
# using only what acrctl wrote. Everything runs on 127.0.0.1 and stops at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-real-parts.sh
cargo build --release --locked -p acrctl -p acrctl-emulator
bin="$PWD/target/release"
demo="$PWD/target/demo"
rm -rf "$demo" && mkdir -p "$demo"

. scripts/emulator.sh
start_emulator "$demo/emulator" --docker-registry "$(command -v docker-registry)"

# What a workstation or CI job would have: a service principal in the environment, and
# the cloud (here the emulator) and its CA.
export DOCKER_CONFIG="$demo/docker"
registry="$ACRCTL_EMULATOR_REGISTRY"

echo "\$ acrctl login -n $registry"
"$bin/acrctl" login -n "$registry"
echo
echo "\$ cat \$DOCKER_CONFIG/config.json   (tokens shortened)"
sed -E 's/("identitytoken": "[^"]{12})[^"]*"/\1…"/' "$DOCKER_CONFIG/config.json"
echo
echo "\$ skopeo copy docker://$registry/samples/hello:v1 dir:$demo/hello   (no Docker daemon)"
skopeo copy --authfile "$DOCKER_CONFIG/config.json" --src-cert-dir "$demo/emulator" \
  "docker://$registry/samples/hello:v1" "dir:$demo/hello"
ls -l "$demo/hello"
if command -v docker >/dev/null 2>&1; then
  echo
  echo "\$ docker manifest inspect $registry/samples/hello:v1   (docker CLI, no daemon)"
  docker --config "$DOCKER_CONFIG" manifest inspect --insecure "$registry/samples/hello:v1"
fi
echo
echo "\$ acrctl login -n $registry --expose-token -o tsv --query accessToken | wc -c"
"$bin/acrctl" login -n "$registry" --expose-token -o tsv --query accessToken 2>/dev/null | wc -c
echo
echo "Demo finished: acrctl logged in, and real clients pulled with what it wrote."
