#!/usr/bin/env bash
# End-to-end test of `migdra serve --simulate MODEL:1` for every model of the GPU catalog, with the
# real kubectl: serve publishes exactly the MIG partitions its driver will prepare. Where it
# publishes partitions, a Job whose pod asks for the model's smallest MIG profile through a
# ResourceClaimTemplate runs to Succeeded and its claim is deallocated; where it publishes none
# (a Hopper-or-newer GPU starts with MIG mode off, and serve's driver partitions only GPUs whose
# MIG mode is on), the whole GPU is its only device. One server per model, one after another.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CATALOG=${MIGDRA_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/src/gpu/catalog.json
mapfile -t MODELS < <(jq -r '.models[].key' "$CATALOG")
((${#MODELS[@]} > 0)) || fail "no models in $CATALOG"

# The profile with the least memory, then the fewest compute slices (1g.10gb before 1g.10gb+me).
smallest_profile() {
  jq -r --arg m "$1" '.models[] | select(.key == $m) | .profiles
    | if length == 0 then "" else min_by([.memory_mib, .compute_slices, (.name | length)]).name end' \
    "$CATALOG"
}

# published_devices TYPE: the names of the published devices of that type, one a line.
published_devices() {
  k get resourceslices -o json |
    jq -r --arg t "$1" '.items[].spec.devices[]? | select(.attributes.type.string == $t) | .name'
}

# The pod's generated claim is deallocated (and then deleted: its pod is done).
claim_is_deallocated() {
  k get resourceclaims -o json | jq -e 'all(.items[]; .status.allocation == null)'
}

job_succeeded() {
  [[ $(k get job smallest -o jsonpath='{.status.succeeded}') == 1 ]]
}

pod_succeeded() {
  [[ $(k get pods -l job-name=smallest -o jsonpath='{.items[0].status.phase}') == Succeeded ]]
}

for model in "${MODELS[@]}"; do
  DATA_DIR=$E2E_TMP/$model/data
  PORT=
  SIMULATE=$model:1 start_server
  partitions=$(published_devices mig)
  if [[ -z "$partitions" ]]; then
    [[ -n "$(published_devices gpu)" ]] || fail "$model: neither the GPU nor a partition is published"
    pass "$model: serve publishes the whole GPU and no MIG partitions"
    stop_server
    continue
  fi
  profile=$(smallest_profile "$model")
  [[ -n "$profile" ]] || fail "$model: partitions published for a model without MIG profiles"
  k apply -f "$EXAMPLES/deviceclass.yaml" >/dev/null
  k apply -f - >/dev/null <<EOF
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata:
  name: smallest
spec:
  spec:
    devices:
      requests:
      - name: gpu
        exactly:
          deviceClassName: nvidia-mig
          selectors:
          - cel:
              expression: >-
                device.attributes['gpu.nvidia.com'].type == 'mig' &&
                device.attributes['gpu.nvidia.com'].profile == '$profile'
---
apiVersion: batch/v1
kind: Job
metadata:
  name: smallest
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: busybox
        command: ["true"]
        resources:
          claims:
          - name: gpu
      resourceClaims:
      - name: gpu
        resourceClaimTemplateName: smallest
EOF
  if ! (wait_for "$model: the $profile Job to succeed" 60 job_succeeded); then
    k get pods,resourceclaims -o wide >&2 || true
    k get events >&2 || true
    fail "$model: the Job whose pod asks for $profile did not succeed"
  fi
  pod_succeeded || fail "$model: the Job succeeded but its pod is not Succeeded"
  wait_for "$model: the $profile claim to be deallocated" 30 claim_is_deallocated
  pass "$model: a $profile claim ran to completion and was deallocated"
  stop_server
done
