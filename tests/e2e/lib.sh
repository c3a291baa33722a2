# Shared helpers for the end-to-end tests of `migdra serve` with the real kubectl.
# Usage: source lib.sh; start_server [extra serve flags]; ...; the EXIT trap stops the server.
# Environment: MIGDRA (the migdra binary; default: first argument of the test), KUBECTL
# (default kubectl), E2E_KEEP=1 keeps the temp dir.
set -euo pipefail

MIGDRA=${MIGDRA:-${1:-}}
KUBECTL_BIN=${KUBECTL:-kubectl}
if [[ -z "$MIGDRA" || ! -x "$MIGDRA" ]]; then
  echo "usage: $0 PATH/TO/migdra" >&2
  exit 2
fi
if ! command -v "$KUBECTL_BIN" >/dev/null 2>&1; then
  echo "SKIP: kubectl not found" >&2
  exit 77
fi
for tool in curl jq; do
  command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool not found" >&2; exit 77; }
done

E2E_TMP=$(mktemp -d /tmp/migdra-e2e.XXXXXX)
DATA_DIR=$E2E_TMP/data
SERVER_PID=
SERVER_LOG=$E2E_TMP/serve.log
PORT=

stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
}

# Containers outlive `migdra serve` (its next start adopts them): a test that ends with pods
# still running stops them through their supervisors (SIGUSR1 kills a container's processes).
stop_containers() {
  local shims
  shims=$(pgrep -f "container-shim $E2E_TMP/" || true)
  [[ -z "$shims" ]] || kill -USR1 $shims 2>/dev/null || true
  for _ in $(seq 50); do pgrep -f "container-shim $E2E_TMP/" >/dev/null || break; sleep 0.1; done
  local root
  for root in $(cat "$E2E_TMP"/*/runner/cgroup-root 2>/dev/null); do
    [[ -d $root ]] || continue
    echo 1 >"$root/cgroup.kill" 2>/dev/null || true  # orphans of a killed supervisor
    for _ in $(seq 20); do find "$root" -depth -type d -exec rmdir {} + 2>/dev/null && break; sleep 0.1; done
  done
  return 0
}

cleanup() {
  local rc=$?
  stop_server
  stop_containers
  if [[ $rc -ne 0 && -f "$SERVER_LOG" ]]; then
    echo "--- server log (last 30 lines)" >&2
    tail -n 30 "$SERVER_LOG" >&2 || true
  fi
  [[ "${E2E_KEEP:-0}" == 1 ]] && echo "kept $E2E_TMP" >&2 || rm -rf "$E2E_TMP"
  exit $rc
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

pass() { echo "ok: $*"; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_server [flags...]: starts `migdra serve` on a free port and waits (≤60 s) for /readyz;
# its node e2e-node simulates $SIMULATE (default a100-80gb:8); NO_NODE=1 runs it with --no-node.
start_server() {
  [[ -n "$PORT" ]] || PORT=$(free_port)
  local node_flags=(--simulate "${SIMULATE:-a100-80gb:8}" --node-name e2e-node)
  [[ "${NO_NODE:-0}" == 1 ]] && node_flags=(--no-node)
  "$MIGDRA" serve --data-dir "$DATA_DIR" --listen "127.0.0.1:$PORT" "${node_flags[@]}" \
    "$@" >>"$SERVER_LOG.out" 2>>"$SERVER_LOG" &
  SERVER_PID=$!
  for _ in $(seq 600); do
    if curl -sk --max-time 1 "https://127.0.0.1:$PORT/readyz" 2>/dev/null | grep -q ok; then
      export KUBECONFIG=$DATA_DIR/kubeconfig
      TOKEN=$(cat "$DATA_DIR/token")
      return 0
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || fail "migdra serve exited: $(cat "$SERVER_LOG")"
    sleep 0.1
  done
  fail "migdra serve did not become ready in 60 s"
}

k() {
  timeout 180 "$KUBECTL_BIN" --cache-dir "$E2E_TMP/kube-cache" --request-timeout 30s "$@"
}

# api METHOD PATH [curl args...]: an authenticated request; prints the body, then the status
# code on the last line.
api() {
  local method=$1 path=$2
  shift 2
  curl -sk --max-time 30 -X "$method" -H "Authorization: Bearer $TOKEN" -w '\n%{http_code}' \
    "https://127.0.0.1:$PORT$path" "$@"
}

# wait_for DESCRIPTION SECONDS COMMAND...: retries COMMAND every 0.5 s until it succeeds.
wait_for() {
  local what=$1 seconds=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "timed out after ${seconds}s waiting for: $what"
    sleep 0.5
  done
}

EXAMPLES=${MIGDRA_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/examples/aks-mig

# walkthrough_jobs PREFIX FIRST LAST: copies PREFIX-FIRST..PREFIX-LAST of the walkthrough's Job, as
# one multi-document manifest on stdout.
walkthrough_jobs() {
  local i
  for i in $(seq "$2" "$3"); do
    sed "s/^  name: samples-tf-mnist-demo\$/  name: $1-$i/" "$EXAMPLES/job.yaml"
    echo "---"
  done
}

# allocated_claims_are N: exactly N ResourceClaims have an allocation.
allocated_claims_are() {
  [[ $(k get resourceclaims -o json | jq '[.items[] | select(.status.allocation)] | length') == "$1" ]]
}
