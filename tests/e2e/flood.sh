#!/usr/bin/env bash
# `migdra serve` under a flood of slow, unauthenticated connections (tests/e2e/flood.py: 500 raw
# TLS connections from other loopback addresses that trickle header bytes or never finish the
# handshake, plus 200 from one address, more than one client may hold). While it runs, an
# authenticated `kubectl get pods` must answer (each within 5 s; the measured latencies are
# printed) and 8 of the walkthrough's Jobs must complete -- the pod runner reads their claims
# over the same API. Afterwards: the server closed the connections over the per-client limit at
# once and every trickling connection at the header deadline although it kept sending.
source "$(dirname "$0")/lib.sh"
FLOOD_SECONDS=${FLOOD_SECONDS:-75}
FLOOD_PID=
stop_flood() {
  if [[ -n "$FLOOD_PID" ]]; then
    kill "$FLOOD_PID" 2>/dev/null || true
    wait "$FLOOD_PID" 2>/dev/null || true
  fi
  FLOOD_PID=
}
# errexit would end the trap at (exit $rc) when the test failed, before cleanup stops the server.
trap 'rc=$?; stop_flood; set +e; (exit $rc); cleanup' EXIT
start_server

k apply -f "$EXAMPLES/deviceclass.yaml" -f "$EXAMPLES/resourceclaimtemplate.yaml" >/dev/null
ms_now() { date +%s%N | cut -c1-13; }
# get_pods_ms: an authenticated `kubectl get pods` bounded to 5 s; prints how long it took (ms).
get_pods_ms() {
  local start
  start=$(ms_now)
  timeout 5 "$KUBECTL_BIN" --cache-dir "$E2E_TMP/kube-cache" get pods >/dev/null ||
    fail "kubectl get pods did not answer within 5 s"
  echo $(($(ms_now) - start))
}
quiet=()
for _ in 1 2 3 4 5; do quiet+=("$(get_pods_ms)"); done

mkfifo "$E2E_TMP/flood.fifo"
python3 "$(dirname "$0")/flood.py" "$PORT" "$FLOOD_SECONDS" "$E2E_TMP/flood.json" >"$E2E_TMP/flood.fifo" &
FLOOD_PID=$!
exec 3<"$E2E_TMP/flood.fifo"
read -r -t 60 -u 3 line || fail "the flood did not start"
echo "$line"

for i in $(seq 1 8); do
  sed -e "s/^  name: samples-tf-mnist-demo\$/  name: flood-job-$i/" -e 's/value: "15"/value: "3"/' \
    "$EXAMPLES/local/job.yaml"
  echo "---"
done | k apply -f - >/dev/null
flooded=()
for _ in 1 2 3 4 5; do flooded+=("$(get_pods_ms)"); done
echo "kubectl get pods (ms): quiet ${quiet[*]}; during the flood ${flooded[*]}"
k wait --for=condition=complete job --all --timeout=120s >/dev/null || fail "the Jobs did not complete during the flood"
kill -0 "$FLOOD_PID" 2>/dev/null || fail "the flood ended before the checks did (raise FLOOD_SECONDS)"
pass "during the flood: kubectl get pods answered every time; 8 Jobs completed"

wait "$FLOOD_PID" || fail "flood.py failed"
FLOOD_PID=
stats=$(cat "$E2E_TMP/flood.json")
echo "flood: $stats"
jq -e '.closed_within_5s["over-limit"] >= 72' <<<"$stats" >/dev/null ||
  fail "the server did not close the connections over the per-client limit"
jq -e '.closed_by_server["trickle-head"] >= 250 and .closed_by_server["trickle-handshake"] >= 250' \
  <<<"$stats" >/dev/null || fail "trickling connections outlived the header deadline"
pass "connections over the per-client limit closed at once; trickling ones at the header deadline"
echo "flood: all checks passed"
