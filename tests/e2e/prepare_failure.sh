#!/usr/bin/env bash
# A pod whose claim the driver cannot prepare (nvmlsim fails every GPU instance creation): the node
# writes the kubelet's Warning FailedPrepareDynamicResources event with the driver's message, so
# `kubectl describe pod` explains why the pod stays in ContainerCreating; repeats raise the
# event's count instead of adding events; /metrics counts the prepare errors under NVIDIA's
# metric. Restarted without the fault, the node prepares the claim and writes MigDeviceCreated on
# it; deleting the pod writes MigDeviceDestroyed.
source "$(dirname "$0")/lib.sh"
MIGDRA_NVMLSIM_FAULTS="nvmlDeviceCreateGpuInstanceWithPlacement:0:2" start_server

k apply -f "$EXAMPLES/deviceclass.yaml" -f "$EXAMPLES/resourceclaimtemplate.yaml" >/dev/null
cat <<'YAML' | k apply -f - >/dev/null
apiVersion: v1
kind: Pod
metadata:
  name: stuck
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    command: ["sleep", "60"]
    resources:
      claims:
      - name: gpu
  resourceClaims:
  - name: gpu
    resourceClaimTemplateName: mig-gpu-1g
YAML
has_event() { k get events --field-selector involvedObject.name=stuck,reason=FailedPrepareDynamicResources -o name | grep -q .; }
wait_for "the FailedPrepareDynamicResources event" 60 has_event
out=$(k describe pod stuck)
grep -qE 'Warning +FailedPrepareDynamicResources +.* +kubelet +Failed to prepare dynamic resources: ' <<<"$out" ||
  fail "describe pod lacks the kubelet's event: $out"
grep -q 'Invalid Argument\|NVML\|nvml' <<<"$out" || fail "event lacks the driver's message: $(grep -A2 FailedPrepare <<<"$out")"
grep -qE 'ContainerCreating' <<<"$out" || fail "pod is not in ContainerCreating: $out"
pass "describe pod: $(grep -o 'Failed to prepare dynamic resources: .*' <<<"$out" | head -1 | cut -c1-150)"

# The runner retries with backoff; the same message is one event with a rising count.
count_above_one() {
  k get events --field-selector involvedObject.name=stuck,reason=FailedPrepareDynamicResources -o json |
    jq -e '(.items | length) == 1 and .items[0].count > 1'
}
wait_for "the event's count to rise" 30 count_above_one
errors=$(curl -sk -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$PORT/metrics" |
  awk '$1 == "nvidia_dra_node_prepare_errors_total{driver=\"gpu.nvidia.com\",error_type=\"prepare_devices\"}" { print $2 }')
[[ -n "$errors" && "$errors" -ge 2 ]] || fail "prepare errors not counted: '$errors'"
pass "repeats counted on one event (count > 1); nvidia_dra_node_prepare_errors_total = $errors"

stop_server
start_server
claim=$(k get pod stuck -o json | jq -r '.status.resourceClaimStatuses[0].resourceClaimName')
created() { k get events --field-selector reason=MigDeviceCreated,involvedObject.name="$claim" -o name | grep -q .; }
wait_for "MigDeviceCreated on the claim" 60 created
out=$(k describe resourceclaim "$claim")
grep -qE 'Normal +MigDeviceCreated +.* +kubelet +created MIG device gpu-[0-7]-mig-1g10gb-19-[0-6] for pod default/stuck' <<<"$out" ||
  fail "describe resourceclaim lacks MigDeviceCreated: $out"
k delete pod stuck --timeout=90s >/dev/null || fail "kubectl delete pod stuck"
destroyed() { k get events --field-selector reason=MigDeviceDestroyed,involvedObject.name="$claim" -o name | grep -q .; }
wait_for "MigDeviceDestroyed on the claim" 90 destroyed
pass "without the fault: MigDeviceCreated, then MigDeviceDestroyed after the pod is deleted"
echo "prepare_failure: all checks passed"
