#!/usr/bin/env bash
# serve's /metrics and partition map during the walkthrough (simulated 8 x A100-80GB, real
# kubectl, headless chromium): with 56 Jobs each on a 1g.10gb partition the metrics show 56 live
# 1g.10gb partitions, no free compute slice, and free/stranded memory slices equal to an
# independent count (stranded.py); after some Jobs are deleted (a mixed pattern of holes) the
# numbers again equal the independent count. The page, loaded in chromium, draws every
# partition at its placement with its pod, every free and stranded slice, and the pending
# claim with its reason; its screenshot is saved in the test's temporary folder, or where
# SCREENSHOT says (SCREENSHOT=$PWD/docs/partition-map.png refreshes the README's picture).
# `migdra top` prints the same map.
# Browser part skipped (not the whole test) when chromium or playwright-core is missing.
source "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
SOURCE_DIR=${MIGDRA_SOURCE_DIR:-$(cd "$HERE/../.." && pwd)}
start_server

metrics() { curl -sk --max-time 30 -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$PORT/metrics"; }
# sum_of METRICS_TEXT NAME [LABEL_SUBSTRING]: sum of a family's samples.
sum_of() {
  awk -v name="$2" -v filter="${3:-}" '($1 == name || index($0, name "{") == 1) && index($0, filter) { s += $NF }
    END { print s + 0 }' <<<"$1"
}
independent() {
  k get resourceslices -o json >"$E2E_TMP/slices.json"
  k get resourceclaims -o json >"$E2E_TMP/claims.json"
  python3 "$HERE/stranded.py" "$E2E_TMP/slices.json" "$E2E_TMP/claims.json"
}
check_against_independent() {  # check_against_independent WHAT
  local m ind
  m=$(metrics)
  ind=$(independent)
  for field in allocated free stranded; do
    local want got
    want=$(jq "[.[].$field] | add" <<<"$ind")
    got=$(sum_of "$m" "migdra_gpu_memory_slices_$field")
    [[ "$got" == "$want" ]] || fail "$1: memory slices $field: /metrics says $got, independent count $want"
    for gpu in $(seq 0 7); do
      want=$(jq ".[\"gpu-$gpu-counter-set\"].$field" <<<"$ind")
      got=$(sum_of "$m" "migdra_gpu_memory_slices_$field" "gpu=\"$gpu\"")
      [[ "$got" == "$want" ]] || fail "$1: GPU $gpu memory slices $field: /metrics $got, independent $want"
    done
  done
  [[ $(sum_of "$m" migdra_node_memory_slices_stranded) == $(jq '[.[].stranded] | add' <<<"$ind") ]] ||
    fail "$1: node stranded total differs"
}

# Without the token /metrics is refused; the page shell is not (it holds no data).
[[ $(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$PORT/metrics") == 401 ]] || fail "/metrics without token"
[[ $(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$PORT/migdra/v1/partitionmap") == 401 ]] ||
  fail "partition map without token"
[[ $(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$PORT/ui/partitions") == 200 ]] || fail "page shell"
pass "metrics and map need the token, the page shell does not"

k apply -f "$EXAMPLES/deviceclass.yaml" -f "$EXAMPLES/resourceclaimtemplate.yaml" >/dev/null
walkthrough_jobs mnist 1 56 | k apply -f - >/dev/null
wait_for "56 allocated claims" 120 allocated_claims_are 56

m=$(metrics)
[[ $(sum_of "$m" migdra_partitions 'GPU_I_PROFILE="1g.10gb"') == 56 ]] || fail "live 1g.10gb partitions: $(grep '^migdra_partitions' <<<"$m")"
[[ $(sum_of "$m" migdra_partition_info) == 56 ]] || fail "partition_info series"
[[ $(sum_of "$m" migdra_gpu_compute_slices_free) == 0 ]] || fail "free compute slices with 56 x 1g"
[[ $(sum_of "$m" migdra_gpu_compute_slices_allocated) == 56 ]] || fail "allocated compute slices"
[[ $(sum_of "$m" migdra_gpu_memory_slices_allocated) == 56 ]] || fail "allocated memory slices"
[[ $(sum_of "$m" migdra_node_profile_fits) == 0 ]] || fail "profiles still fit on a full node: $(grep '^migdra_node_profile_fits' <<<"$m")"
# Each A100 has 8 memory slices and 7 compute slices: with seven 1g.10gb partitions the 8th
# memory slice is free, and stranded since no profile fits any more.
[[ $(sum_of "$m" migdra_gpu_memory_slices_free) == 8 && $(sum_of "$m" migdra_gpu_memory_slices_stranded) == 8 ]] ||
  fail "free/stranded memory slices: $(grep -E '^migdra_node_memory' <<<"$m")"
check_against_independent "56 jobs"
for gpu in $(seq 0 7); do
  [[ $(sum_of "$m" migdra_partitions "gpu=\"$gpu\"") == 7 ]] || fail "GPU $gpu does not hold 7 partitions"
done
grep -q '^apiserver_request_total{verb="POST",resource="jobs",code="201"} 56$' <<<"$m" || fail "API request counter: $(grep '^apiserver_request_total' <<<"$m")"
grep -q '^apiserver_request_duration_seconds_count{verb="LIST",resource="resourceclaims"}' <<<"$m" || fail "API latency histogram"
grep -q '^# TYPE nvidia_dra_request_duration_seconds histogram$' <<<"$m" || fail "NVIDIA request histogram"
grep -q '^nvidia_dra_requests_inflight{driver="gpu.nvidia.com",operation="prepare"} ' <<<"$m" || fail "inflight gauge"
pass "56 jobs: 56 live 1g.10gb partitions, 0 free compute slices, 8 free = 8 stranded memory slices (independent count agrees)"

# A 57th Job waits; its claim is pending with the scheduler's reason.
sed "s/^  name: samples-tf-mnist-demo\$/  name: mnist-57/" "$EXAMPLES/job.yaml" | k apply -f - >/dev/null
pending_is_one() { [[ $(sum_of "$(metrics)" migdra_pending_claims) == 1 ]]; }
wait_for "the 57th claim to be pending" 30 pending_is_one
grep -q '^migdra_pending_claim_wait_seconds{dra_namespace="default",dra_claim="mnist-57-' <<<"$(metrics)" ||
  fail "pending claim wait series"
pass "57th claim pending in /metrics"

# migdra top prints the same map from the API with the kubeconfig.
top=$("$MIGDRA" top --kubeconfig "$KUBECONFIG")
[[ $(grep -cE '^  slice [0-6]  1g\.10gb  default/mnist-[0-9]+-[a-z0-9]{5}  [0-9]+[smh]$' <<<"$top") == 56 ]] ||
  fail "migdra top partitions: $top"
[[ $(grep -cE '^GPU [0-7] .* compute 7/7  memory slices free 1, stranded 1$' <<<"$top") == 8 ]] || fail "migdra top GPUs: $top"
[[ $(grep -cE '^  \| 1g\.10gb \| 1g\.10gb \| 1g\.10gb \| 1g\.10gb \| 1g\.10gb \| 1g\.10gb \| 1g\.10gb \| x \|$' <<<"$top") == 8 ]] ||
  fail "migdra top slice bars: $top"
grep -qE '^  default/mnist-57-[a-z0-9]{5}-gpu-[a-z0-9]{5}  pod mnist-57-[a-z0-9]{5}  waiting [0-9]+s  .*cannot allocate all claims' <<<"$top" ||
  fail "migdra top pending: $(grep -A3 PENDING <<<"$top")"
pass "migdra top: 56 partitions, 8 stranded slices, the pending claim with its reason"

if [[ -x /usr/bin/chromium && -d "$SOURCE_DIR/tests/ui/node_modules/playwright-core" ]]; then
  pod57_unschedulable() {
    k get pods -l job-name=mnist-57 -o json |
      jq -e '.items[0].status.conditions[] | select(.type=="PodScheduled" and .reason=="Unschedulable")'
  }
  wait_for "the 57th pod to be marked unschedulable" 30 pod57_unschedulable
  # What the API says while the page takes its first look (nothing changes until it has).
  k get pods -o json | jq -r '.items[] | select(.spec.nodeName) | .metadata.name' | sort >"$E2E_TMP/pods"
  k get resourceclaims -o json | jq -r '.items[] | select(.status.allocation) | .status.allocation.devices.results[0].device' |
    sed -E 's/^gpu-([0-9]+)-mig-1g10gb-19-([0-9]+)$/\1 \2/' | sort >"$E2E_TMP/placements"
  # After the first look, two Jobs are deleted: the page follows without a reload (the 57th takes
  # one freed partition, 55 remain).
  out=$(timeout 150 node "$SOURCE_DIR/tests/ui/partition_map.js" \
    "https://127.0.0.1:$PORT/ui/partitions#token=$TOKEN" 56 "${SCREENSHOT:-$E2E_TMP/partition-map.png}" \
    "$KUBECTL_BIN --kubeconfig $KUBECONFIG delete job mnist-3 mnist-9 --wait=false" 55)
  facts=$(head -1 <<<"$out")
  later=$(sed -n 2p <<<"$out")
  [[ $(jq '.partitions | length' <<<"$facts") == 56 ]] || fail "page partitions: $facts"
  # Every partition drawn where its claim's device says, with the pod that holds it.
  jq -r '.partitions[].pod' <<<"$facts" | sort >"$E2E_TMP/page-pods"
  diff "$E2E_TMP/pods" "$E2E_TMP/page-pods" >/dev/null || fail "page pods differ from bound pods"
  jq -r '.partitions[] | "\(.gpu) \(.start)"' <<<"$facts" | sort >"$E2E_TMP/page-placements"
  diff "$E2E_TMP/placements" "$E2E_TMP/page-placements" >/dev/null || fail "page placements differ from the claims"
  [[ $(jq '[.partitions[] | select(.profile == "1g.10gb" and .size == 1)] | length' <<<"$facts") == 56 ]] || fail "page profiles"
  [[ $(jq '.stranded | length' <<<"$facts") == 8 && $(jq '.free | length' <<<"$facts") == 0 ]] || fail "page slices: $facts"
  [[ $(jq '[.stranded[] | select(.slice == 7)] | length' <<<"$facts") == 8 ]] || fail "stranded slices not at slice 7"
  jq -e '.stranded[0].background | test("gradient")' <<<"$facts" >/dev/null || fail "stranded slices not hatched"
  jq -e '.pending | length == 1 and (.[0].claim | startswith("mnist-57-")) and (.[0].text | test("cannot allocate"))' \
    <<<"$facts" >/dev/null || fail "page pending claim: $(jq -c .pending <<<"$facts")"
  jq -e '.tokenInAddressBar == false' <<<"$facts" >/dev/null || fail "token left in the address bar"
  pass "page in chromium: 56 partitions at their placements with their pods, 8 stranded slices, pending claim with reason (screenshot ${SCREENSHOT:-$E2E_TMP/partition-map.png})"
  jq -e '.partitions == 55 and .pending == 0 and .navigations == 1' <<<"$later" >/dev/null ||
    fail "the page did not follow the deletions live: $later"
  pass "page is live: after deleting 2 Jobs it shows 55 partitions and no pending claim without a reload ($later)"
else
  echo "skip: browser part (no /usr/bin/chromium or tests/ui/node_modules; run scripts/setup.sh)"
  k delete job mnist-3 mnist-9 >/dev/null
fi

# Holes: with 5 Jobs deleted (2 above) the freed slices are free (usable by 1g) and each GPU's
# stranded count follows the independent count. The 57th took one hole.
for i in 10 17 50; do k delete job "mnist-$i" --wait=true >/dev/null; done
allocated_claims_are_52() { allocated_claims_are 52; }
wait_for "52 allocated claims" 60 allocated_claims_are_52
check_against_independent "after deleting 5 jobs"
m=$(metrics)
[[ $(sum_of "$m" migdra_partitions) == 52 ]] || fail "partitions after deletions"
[[ $(sum_of "$m" migdra_pending_claims) == 0 ]] || fail "no claim should be pending"
pass "after deletions: free $(sum_of "$m" migdra_gpu_memory_slices_free), stranded $(sum_of "$m" migdra_gpu_memory_slices_stranded), as counted independently"
echo "observability: all checks passed"
