#!/usr/bin/env bash
# Start-up and the walkthrough, for each migdra binary given (the baseline first), in one run:
#   - ready: milliseconds from starting `migdra serve --simulate a100-80gb:8` on a fresh data
#     directory (credentials made, node registered) to /readyz answering 200, and the same on a
#     restart over that directory; the median of RUNS starts each;
#   - walkthrough: seconds from `kubectl apply` of the walkthrough's 56 Jobs
#     (examples/aks-mig/local/job.yaml working 600 s instead of 15, so none finishes first;
#     deviceclass and claim template applied before) until all 56 pods are Running, polled
#     every 50 ms; -1 when they are not within 120 s.
# Goals (issue 16): ready within 300 ms, 56 Jobs Running within 2 s.
# Usage: bench/startup_walkthrough.sh MIGDRA_BINARY...   Environment: RUNS (default 5),
# DATA_ROOT (default /tmp).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${RUNS:-5}
data_root=${DATA_ROOT:-/tmp}
command -v kubectl >/dev/null || { echo "startup_walkthrough: kubectl is required" >&2; exit 2; }
[[ $# -ge 1 ]] || { echo "usage: $0 MIGDRA_BINARY..." >&2; exit 2; }

work=$(mktemp -d "$data_root/migdra-startup.XXXXXX")
server_pid=
stop_server() {
  if [[ -n "$server_pid" ]]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}
trap 'stop_server; rm -rf "$work"' EXIT

now_ms() { date +%s%3N; }

# stop_containers DATA_DIR: a stopped serve leaves its pods' containers running (the next start
# adopts them); SIGUSR1 makes each container's shim (runner_process.h) kill its whole tree.
stop_containers() {
  local record pid
  for record in "$1"/runner/pods/*/*/*/shim; do
    [[ -f $record ]] || continue
    pid=$(awk '{print $2}' "$record")
    # Only the shim of that attempt (its command line names the attempt's folder).
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$(dirname "$record")"; then
      kill -USR1 "$pid" 2>/dev/null || true
    fi
  done
}
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_server BINARY DATA_DIR PORT: starts serve; ready_ms = milliseconds until /readyz is 200.
ready_ms=
start_server() {
  local t0
  t0=$(now_ms)
  "$1" serve --data-dir "$2" --listen "127.0.0.1:$3" --simulate a100-80gb:8 \
    >"$2.out" 2>"$2.log" &
  server_pid=$!
  until curl -sk --max-time 1 -o /dev/null -w '%{http_code}' "https://127.0.0.1:$3/readyz" 2>/dev/null |
    grep -q 200; do
    kill -0 "$server_pid" 2>/dev/null || { echo "migdra serve exited: $(tail -3 "$2.log")" >&2; exit 1; }
    sleep 0.002
  done
  ready_ms=$(($(now_ms) - t0))
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

manifests=$work/jobs.yaml
for i in $(seq 1 56); do
  sed -e "s/^  name: samples-tf-mnist-demo$/  name: samples-tf-mnist-demo-$i/" \
    -e 's/value: "15"/value: "600"/' "$root/examples/aks-mig/local/job.yaml"
  echo "---"
done >"$manifests"

printf '%-44s %12s %14s %16s\n' binary "fresh ms" "restart ms" "56 Running s"
for binary in "$@"; do
  fresh=() restart=()
  for r in $(seq "$runs"); do
    dir=$work/data-$r
    port=$(free_port)
    start_server "$binary" "$dir" "$port"
    fresh+=("$ready_ms")
    stop_server
    start_server "$binary" "$dir" "$port"
    restart+=("$ready_ms")
    stop_server
    rm -rf "$dir" "$dir.out" "$dir.log"
  done

  dir=$work/data-walkthrough
  port=$(free_port)
  start_server "$binary" "$dir" "$port"
  export KUBECONFIG=$dir/kubeconfig
  kubectl apply -f "$root/examples/aks-mig/deviceclass.yaml" \
    -f "$root/examples/aks-mig/resourceclaimtemplate.yaml" >/dev/null
  t0=$(now_ms)
  kubectl apply -f "$manifests" >/dev/null
  running=0
  deadline=$((SECONDS + 120))
  while ((running < 56 && SECONDS < deadline)); do
    running=$(kubectl get pods -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' |
      grep -c '^Running$' || true)
    ((running < 56)) && sleep 0.05
  done
  walk_ms=$(($(now_ms) - t0))
  ((running == 56)) || walk_ms=-1
  stop_server
  stop_containers "$dir"
  rm -rf "$dir" "$dir.out" "$dir.log"

  printf '%-44s %12s %14s %16s\n' "$binary" \
    "$(printf '%s\n' "${fresh[@]}" | median)" "$(printf '%s\n' "${restart[@]}" | median)" \
    "$( ((walk_ms < 0)) && echo -1 || awk -v ms="$walk_ms" 'BEGIN {printf "%.2f", ms / 1000}')"
done
