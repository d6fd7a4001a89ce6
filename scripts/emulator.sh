# Sourced by the demo and the benchmarks: start_emulator STATE_DIR [ARGS...] starts
# acrctl-emulator from "$bin" in the background with its state in STATE_DIR (output in
# STATE_DIR.out and STATE_DIR.log), waits for its `ready` line, stops it when the calling
# script exits, and exports the environment it prints (ACRCTL_ARM_ENDPOINT, SSL_CERT_FILE,
# a service principal, ACRCTL_EMULATOR_REGISTRY).
start_emulator() {
  local state="$1"; shift
  rm -rf "$state"
  "$bin/acrctl-emulator" --state-dir "$state" "$@" >"$state.out" 2>"$state.log" &
  emulator_pid=$!
  trap 'kill $emulator_pid 2>/dev/null; wait $emulator_pid 2>/dev/null || true' EXIT
  for _ in $(seq 200); do grep -qx ready "$state.out" 2>/dev/null && break; sleep 0.1; done
  grep -qx ready "$state.out" || { cat "$state.log" >&2; exit 1; }
  set -a; . "$state/env"; set +a
  # The emulator's CA replaces the system store; a CA directory would be read as well.
  unset SSL_CERT_DIR
}
