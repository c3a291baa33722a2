#!/usr/bin/env bash
# The "MIG with DRA on AKS" walkthrough against `migdra serve --simulate a100-80gb:8`, driven by
# the real kubectl: apply the manifests, the walkthrough's get/describe commands, then 56 copies
# of the Job each get their own 1g.10gb partition (7 per GPU, all distinct), a 57th is
# unschedulable with a clear reason until one of the others is deleted.
source "$(dirname "$0")/lib.sh"
start_server

k apply -f "$EXAMPLES/deviceclass.yaml" | grep -q 'deviceclass.resource.k8s.io/nvidia-mig created' ||
  fail "apply deviceclass"
k apply -f "$EXAMPLES/resourceclaimtemplate.yaml" | grep -q 'resourceclaimtemplate.resource.k8s.io/mig-gpu-1g created' ||
  fail "apply resourceclaimtemplate"
k apply -f "$EXAMPLES/job.yaml" | grep -q 'job.batch/samples-tf-mnist-demo created' || fail "apply job"
# Re-applying unchanged manifests changes nothing.
k apply -f "$EXAMPLES/deviceclass.yaml" | grep -q 'unchanged' || fail "re-apply deviceclass is not 'unchanged'"
k apply -f "$EXAMPLES/job.yaml" | grep -q 'unchanged' || fail "re-apply job is not 'unchanged'"
pass "kubectl apply (create and unchanged)"

out=$(k get deviceclasses)
grep -qE '^NAME +AGE$' <<<"$out" && grep -qE '^nvidia-mig +[0-9]+s$' <<<"$out" || fail "get deviceclasses: $out"
out=$(k get resourceslices)
grep -qE '^NAME +NODE +DRIVER +POOL +AGE$' <<<"$out" || fail "get resourceslices header: $out"
# Kubernetes 1.36's layout: a slice holds counter sets or devices, not both; here one slice of the
# 8 GPUs' counter sets, then one slice of devices per GPU.
[[ $(grep -cE ' e2e-node +gpu.nvidia.com +e2e-node ' <<<"$out") == 9 ]] || fail "expected 9 slices: $out"
k get resourceslices -o json | jq -e '[.items[].spec | select((.sharedCounters // []) != [] and
  (.devices // []) != [])] == [] and ([.items[].spec.sharedCounters // [] | length] | add) == 8' >/dev/null ||
  fail "the slices are not in the 1.36 layout: $(k get resourceslices -o json)"
server=$(k version -o json 2>/dev/null | jq -r '.serverVersion | "\(.major).\(.minor) \(.gitVersion)"')
[[ $server == "1.36 v1.36.0+migdra" ]] || fail "kubectl version: server $server"
out=$(k describe node e2e-node)
grep -q 'nvidia.com/gpu.count=8' <<<"$out" || fail "describe node: no gpu.count label"
grep -q 'nvidia.com/mig.capable=true' <<<"$out" || fail "describe node: no mig.capable label"
grep -q 'nvidia.com/mig.config.state=success' <<<"$out" || fail "describe node: no mig.config.state"
grep -q 'nvidia.com/gpu.product=NVIDIA-A100-SXM4-80GB' <<<"$out" || fail "describe node: no gpu.product"
out=$(k get resourceclaimtemplate)
grep -qE '^mig-gpu-1g +[0-9]+s$' <<<"$out" || fail "get resourceclaimtemplate: $out"
pass "get deviceclasses / resourceslices / resourceclaimtemplate, describe node"

reserved_claims_are() { [[ $(k get resourceclaims --no-headers | grep -c 'allocated,reserved') == "$1" ]]; }
wait_for "the walkthrough's claim to be allocated and reserved" 30 reserved_claims_are 1
out=$(k get resourceclaims)
grep -qE '^NAME +STATE +AGE$' <<<"$out" || fail "get resourceclaims header: $out"
grep -qE '^samples-tf-mnist-demo-[a-z0-9]{5}-gpu-[a-z0-9]{5} +allocated,reserved ' <<<"$out" ||
  fail "claim name/state: $out"
out=$(k get pods -o wide)
grep -qE '^NAME +READY +STATUS +RESTARTS +AGE +IP +NODE +NOMINATED NODE +READINESS GATES$' <<<"$out" ||
  fail "get pods -o wide header: $out"
# STATUS is Pending without a pod runner, or what the runner reports.
grep -qE '^samples-tf-mnist-demo-[a-z0-9]{5} +[01]/1 +[A-Za-z]+ +[0-9]+ +[0-9]+s +[^ ]+ +e2e-node ' <<<"$out" ||
  fail "pod not bound to e2e-node: $out"
out=$(k get job)
grep -qE '^NAME +STATUS +COMPLETIONS +DURATION +AGE$' <<<"$out" || fail "get job header: $out"
grep -qE '^samples-tf-mnist-demo +Running +0/1 ' <<<"$out" || fail "get job: $out"
claim=$(k get resourceclaims -o json | jq -r '.items[0]')
jq -e '.metadata.annotations["resource.kubernetes.io/pod-claim-name"] == "gpu"' <<<"$claim" >/dev/null ||
  fail "claim lacks the pod-claim-name annotation"
jq -e '.metadata.finalizers | index("resource.kubernetes.io/delete-protection")' <<<"$claim" >/dev/null ||
  fail "claim lacks the delete-protection finalizer"
jq -e '.status.allocation.devices.results[0].device | test("^gpu-[0-7]-mig-1g10gb-")' <<<"$claim" >/dev/null ||
  fail "claim not right-sized to 1g.10gb: $(jq -c .status.allocation <<<"$claim")"
pass "template claim allocated, reserved, pod bound (get resourceclaims / pods -o wide / job)"

# 55 more copies of the Job: 56 in all, one 1g.10gb partition each.
walkthrough_jobs mnist 2 56 | k apply -f - >/dev/null
wait_for "56 allocated claims" 90 allocated_claims_are 56
devices=$(k get resourceclaims -o json | jq -r '.items[] | .status.allocation.devices.results[] | .device')
[[ $(sort -u <<<"$devices" | wc -l) == 56 ]] || fail "devices are not distinct: $(sort <<<"$devices" | uniq -d | head)"
[[ $(grep -c -- '-mig-1g10gb-' <<<"$devices") == 56 ]] || fail "not all partitions are 1g.10gb: $devices"
per_gpu=$(sed -E 's/^gpu-([0-9]+)-.*/\1/' <<<"$devices" | sort | uniq -c | awk '{print $1}' | sort -u)
[[ "$per_gpu" == 7 ]] || fail "expected 7 partitions on every GPU, got: $(sed -E 's/^gpu-([0-9]+)-.*/\1/' <<<"$devices" | sort | uniq -c)"
[[ $(k get pods -o wide --no-headers | grep -c ' e2e-node ') == 56 ]] || fail "not all 56 pods are bound"
pass "56 Jobs: 56 distinct 1g.10gb partitions, 7 per GPU"

sed "s/^  name: samples-tf-mnist-demo\$/  name: mnist-57/" "$EXAMPLES/job.yaml" | k apply -f - >/dev/null
pod57() { k get pods -l job-name=mnist-57 -o json | jq -r '.items[0]'; }
pod57_unschedulable() {
  pod57 | jq -e '.status.conditions[] | select(.type=="PodScheduled" and .status=="False" and .reason=="Unschedulable")'
}
wait_for "the 57th pod to be marked unschedulable" 30 pod57_unschedulable
msg=$(pod57 | jq -r '.status.conditions[] | select(.type=="PodScheduled") | .message')
grep -q 'cannot allocate all claims' <<<"$msg" || fail "unschedulable reason unclear: $msg"
pod57 | jq -e '.spec.nodeName == null' >/dev/null || fail "57th pod was bound"
events=$(k get events --field-selector reason=FailedScheduling)
grep -q 'cannot allocate all claims' <<<"$events" || fail "no FailedScheduling event: $events"
k describe pod "$(pod57 | jq -r .metadata.name)" | grep -q 'FailedScheduling' || fail "describe pod lacks the event"
pass "57th Job unschedulable: $msg"

# Deleting one Job frees its partition for the waiting pod.
k delete job mnist-2 --wait=true | grep -q 'job.batch "mnist-2" deleted' || fail "delete job"
pod57_bound() { pod57 | jq -e '.spec.nodeName == "e2e-node"'; }
wait_for "the 57th pod to be scheduled once a partition is free" 60 pod57_bound
[[ $(k get pods -l job-name=mnist-2 --no-headers 2>/dev/null | wc -l) == 0 ]] || fail "mnist-2 pods not garbage collected"
devices=$(k get resourceclaims -o json | jq -r '.items[] | select(.status.allocation) | .status.allocation.devices.results[] | .device')
[[ $(wc -l <<<"$devices") == 56 && $(sort -u <<<"$devices" | wc -l) == 56 ]] || fail "allocation after reschedule not distinct"
pass "delete job: pods and claims collected, queued pod scheduled"

k delete -f "$EXAMPLES/job.yaml" >/dev/null
k delete -f "$EXAMPLES/resourceclaimtemplate.yaml" | grep -q 'deleted' || fail "delete template"
k delete -f "$EXAMPLES/deviceclass.yaml" | grep -q 'deleted' || fail "delete deviceclass"
# NVIDIA's own classes (gpu.nvidia.com, ...) stay, as the driver installed them.
k get deviceclasses -o name | grep -qx 'deviceclass.resource.k8s.io/nvidia-mig' && fail "deviceclass still listed"
pass "kubectl delete -f"
echo "walkthrough: all checks passed"
