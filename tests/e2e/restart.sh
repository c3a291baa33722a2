#!/usr/bin/env bash
# Crash safety of `migdra serve`: kill -9 while clients write and while the scheduler allocates,
# restart on the same data dir, and check that every acknowledged write survived, that the
# scheduler finishes the work, and that no device is allocated twice. A watch from before the
# restart gets 410 Gone (as an ERROR event).
source "$(dirname "$0")/lib.sh"
start_server
claims=/apis/resource.k8s.io/v1/namespaces/default/resourceclaims

k apply -f "$EXAMPLES/deviceclass.yaml" -f "$EXAMPLES/resourceclaimtemplate.yaml" >/dev/null
walkthrough_jobs job 1 20 | k apply -f - >/dev/null
first_rv=$(api GET "$claims" | sed '$d' | jq -r .metadata.resourceVersion)

# Writers: each acknowledged (201) create is recorded; the server is killed while they run.
writer() {
  local w=$1
  for n in $(seq 1 400); do
    local name=crash-$w-$n
    local body="{\"apiVersion\":\"resource.k8s.io/v1\",\"kind\":\"ResourceClaim\",\"metadata\":{\"name\":\"$name\"},\"spec\":{\"devices\":{\"requests\":[{\"name\":\"gpu\",\"exactly\":{\"deviceClassName\":\"nvidia-mig\"}}]}}}"
    local code
    code=$(curl -sk --max-time 5 -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
      -H 'Content-Type: application/json' -d "$body" "https://127.0.0.1:$PORT$claims" || true)
    [[ $code == 201 ]] && echo "$name" >>"$E2E_TMP/acked-$w"
    [[ $code == 000 ]] && break
  done
  return 0
}
writers=()
for w in 1 2 3 4; do
  writer "$w" &
  writers+=($!)
done
# Kill once some writes were acknowledged (bounded: 60 s).
for _ in $(seq 600); do
  [[ $(cat "$E2E_TMP"/acked-* 2>/dev/null | wc -l) -ge 20 ]] && break
  sleep 0.1
done
kill -9 "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=
wait "${writers[@]}"  # the writers end on their first refused connection
acked=$( (cat "$E2E_TMP"/acked-* 2>/dev/null || true) | wc -l)
((acked > 0)) || fail "no write was acknowledged before the kill"

start_server
for name in $(cat "$E2E_TMP"/acked-*); do
  r=$(api GET "$claims/$name")
  [[ $(tail -n1 <<<"$r") == 200 ]] || fail "acknowledged claim $name lost after kill -9"
done
pass "kill -9 during writes: all $acked acknowledged creates survived"

allocated_devices() {
  k get resourceclaims -o json | jq -r '.items[] | select(.status.allocation) | .status.allocation.devices.results[].device'
}
allocated_is() { [[ $(allocated_devices | wc -l) == "$1" ]]; }
wait_for "20 job claims allocated after restart" 60 allocated_is 20

# Kill again while the scheduler works through 30 new jobs.
walkthrough_jobs job 21 50 | k apply -f - >/dev/null
sleep 1
kill -9 "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=
start_server
wait_for "50 job claims allocated after the second restart" 90 allocated_is 50
devices=$(allocated_devices)
[[ $(sort -u <<<"$devices" | wc -l) == 50 ]] || fail "a device is allocated twice: $(sort <<<"$devices" | uniq -d)"
[[ $(k get pods --no-headers | wc -l) == 50 ]] || fail "expected exactly 50 pods: $(k get pods --no-headers | wc -l)"
# kubectl follows the server's continue tokens when it lists in chunks.
[[ $(k get pods --no-headers --chunk-size=7 | wc -l) == 50 ]] ||
  fail "chunked list: $(k get pods --no-headers --chunk-size=7 | wc -l) pods"
[[ $(k get pods -o name --chunk-size=7 | sort -u | wc -l) == 50 ]] || fail "chunked list repeats or drops pods"
[[ $(k get pods -o json | jq '[.items[] | select(.spec.nodeName == "e2e-node")] | length') == 50 ]] ||
  fail "not every pod is bound"
pass "kill -9 during scheduling: 50 pods, 50 distinct devices, nothing allocated twice"

out=$(curl -sk --max-time 5 -H "Authorization: Bearer $TOKEN" \
  "https://127.0.0.1:$PORT$claims?watch=true&resourceVersion=$first_rv&timeoutSeconds=2")
jq -e 'select(.type == "ERROR") | .object.code == 410' <<<"$out" >/dev/null || fail "old watch not 410: $out"
pass "watch from before the restart: 410 Gone"
echo "restart: all checks passed"
