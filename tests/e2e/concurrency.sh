#!/usr/bin/env bash
# 50 concurrent clients create, update and delete ResourceClaims; all also increment one shared
# counter with optimistic concurrency (GET, PUT with resourceVersion, retry on 409; the first
# COUNTER_CLIENTS clients, to bound the retries on a small machine). Every answer
# must be the expected one, and the final state must match exactly what was acknowledged.
source "$(dirname "$0")/lib.sh"
start_server
claims=/apis/resource.k8s.io/v1/namespaces/default/resourceclaims
CLIENTS=${CLIENTS:-50}
PER_CLIENT=4
INCREMENTS=2
COUNTER_CLIENTS=10

claim_json() {
  echo "{\"apiVersion\":\"resource.k8s.io/v1\",\"kind\":\"ResourceClaim\",\"metadata\":{\"name\":\"$1\",\"labels\":{\"n\":\"$2\"}},\"spec\":{\"devices\":{\"requests\":[{\"name\":\"gpu\",\"exactly\":{\"deviceClassName\":\"nvidia-mig\"}}]}}}"
}
r=$(api POST "$claims" -H 'Content-Type: application/json' -d "$(claim_json shared 0)")
[[ $(tail -n1 <<<"$r") == 201 ]] || fail "create shared claim"

client() {
  local c=$1 log=$E2E_TMP/client-$1.log
  for j in $(seq 1 "$PER_CLIENT"); do
    local name=c$c-$j r body rv
    r=$(api POST "$claims" -H 'Content-Type: application/json' -d "$(claim_json "$name" 0)")
    [[ $(tail -n1 <<<"$r") == 201 ]] || { echo "BAD create $name $(tail -n1 <<<"$r")" >>"$log"; continue; }
    rv=$(sed '$d' <<<"$r" | jq -r .metadata.resourceVersion)
    r=$(api PATCH "$claims/$name" -H 'Content-Type: application/merge-patch+json' \
      -d "{\"metadata\":{\"resourceVersion\":\"$rv\",\"labels\":{\"n\":\"1\"}}}")
    [[ $(tail -n1 <<<"$r") == 200 ]] || echo "BAD patch $name $(tail -n1 <<<"$r")" >>"$log"
    # A second patch with the now stale version must conflict.
    r=$(api PATCH "$claims/$name" -H 'Content-Type: application/merge-patch+json' \
      -d "{\"metadata\":{\"resourceVersion\":\"$rv\",\"labels\":{\"n\":\"2\"}}}")
    [[ $(tail -n1 <<<"$r") == 409 ]] || echo "BAD stale $name $(tail -n1 <<<"$r")" >>"$log"
    if ((j % 2 == 0)); then
      r=$(api DELETE "$claims/$name")
      [[ $(tail -n1 <<<"$r") == 200 ]] && echo "deleted $name" >>"$log" || echo "BAD delete $name" >>"$log"
    else
      echo "kept $name" >>"$log"
    fi
  done
  ((c <= COUNTER_CLIENTS)) || return 0
  for _ in $(seq 1 "$INCREMENTS"); do
    for attempt in $(seq 1 200); do
      r=$(api GET "$claims/shared")
      body=$(sed '$d' <<<"$r")
      local n rv2
      n=$(jq -r .metadata.labels.n <<<"$body")
      rv2=$(jq -r .metadata.resourceVersion <<<"$body")
      r=$(api PUT "$claims/shared" -H 'Content-Type: application/json' \
        -d "$(jq -c --arg n $((n + 1)) '.metadata.labels.n = $n' <<<"$body")")
      case $(tail -n1 <<<"$r") in
        200) echo "increment" >>"$log"; break ;;
        409) ;;
        *) echo "BAD increment $(tail -n1 <<<"$r")" >>"$log"; break ;;
      esac
    done
  done
  return 0
}

start=$SECONDS
pids=()
for c in $(seq 1 "$CLIENTS"); do
  client "$c" &
  pids+=($!)
done
wait "${pids[@]}"
echo "concurrency: $CLIENTS clients finished in $((SECONDS - start)) s"
if grep -h BAD "$E2E_TMP"/client-*.log; then fail "unexpected answers (above)"; fi
expected=$( (grep -h '^kept' "$E2E_TMP"/client-*.log | awk '{print $2}'; echo shared) | sort)
actual=$(api GET "$claims" | sed '$d' | jq -r '.items[].metadata.name' | sort)
[[ "$expected" == "$actual" ]] || fail "final claims differ from the acknowledged ones: $(diff <(echo "$expected") <(echo "$actual") | head)"
increments=$(cat "$E2E_TMP"/client-*.log | grep -c '^increment')
[[ $increments == $((COUNTER_CLIENTS * INCREMENTS)) ]] || fail "only $increments increments succeeded"
counter=$(api GET "$claims/shared" | sed '$d' | jq -r .metadata.labels.n)
[[ $counter == "$increments" ]] || fail "shared counter is $counter after $increments acknowledged increments (lost update)"
kept=$(api GET "$claims?labelSelector=n%3D1" | sed '$d' | jq '.items | length')
[[ $kept == $((CLIENTS * PER_CLIENT / 2)) ]] || fail "label selector found $kept patched claims"
pass "$CLIENTS clients: every answer as expected, final state = acknowledged state, no lost update"
echo "concurrency: all checks passed"
