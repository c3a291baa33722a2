#!/usr/bin/env bash
# On the GPU machine (read-only for the GPU): `migdra serve` with real NVML runs a Job whose pod
# executes a CUDA program (tests/gpu/cuda_probe.cu); the test checks that the pod saw exactly the
# GPU it was allocated. The Job asks for a whole GPU (class type == 'gpu'), and the test refuses to
# run unless MIG mode is off on every GPU, so nothing is created or destroyed on the GPU.
# Usage: serve_on_gpu.sh BUNDLE_DIR   (BUNDLE_DIR/bin/migdra and BUNDLE_DIR/lib/*.so*, built on
# the build machine; kubectl is not needed: the objects are posted with curl).
set -euo pipefail
bundle=$(cd "${1:?usage: serve_on_gpu.sh BUNDLE_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
export LD_LIBRARY_PATH=$bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

modes=$(nvidia-smi --query-gpu=mig.mode.current --format=csv,noheader | sort -u)
if [[ "$modes" != "Disabled" && "$modes" != "[N/A]" ]]; then
  echo "SKIP: MIG mode is '$modes' on some GPU; this test only runs where no MIG instance could be created"
  exit 0
fi
nvidia-smi -L

work=$(mktemp -d)
nvcc -O2 -o "$work/cuda_probe" "$here/cuda_probe.cu"
port=16443
"$bundle/bin/migdra" serve --data-dir "$work/data" --listen 127.0.0.1:$port >"$work/serve.out" 2>"$work/serve.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; echo "--- serve log"; tail -n 20 "$work/serve.log"' EXIT
source "$here/serve_api.sh"
serve_wait_ready $port $pid "$work/data" || { echo "FAIL: serve did not become ready"; exit 1; }
api() { serve_api "$@"; }
base=$SERVE_BASE
echo "== ResourceSlices published from real NVML"
api $base/apis/resource.k8s.io/v1/resourceslices | python3 -c '
import json,sys
for s in json.load(sys.stdin)["items"]:
  for d in s["spec"].get("devices", []):
    a = d.get("attributes", {})
    if a.get("type", {}).get("string") == "gpu":
      print(" ", d["name"], a.get("uuid", {}).get("string"), a.get("productName", {}).get("string"))'

# serve installs NVIDIA's DeviceClasses; gpu.nvidia.com selects whole GPUs.
api -X POST $base/apis/resource.k8s.io/v1/namespaces/default/resourceclaimtemplates -d '{"apiVersion":"resource.k8s.io/v1","kind":"ResourceClaimTemplate","metadata":{"name":"one-gpu"},"spec":{"spec":{"devices":{"requests":[{"name":"gpu","exactly":{"deviceClassName":"gpu.nvidia.com"}}]}}}}' >/dev/null
api -X POST $base/apis/batch/v1/namespaces/default/jobs -d '{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"cuda-probe"},"spec":{"backoffLimit":0,"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"probe","image":"none","command":["'"$work"'/cuda_probe"],"resources":{"claims":[{"name":"gpu"}]}}],"resourceClaims":[{"name":"gpu","resourceClaimTemplateName":"one-gpu"}]}}}}' >/dev/null

serve_wait_job_pod cuda-probe
pod=$POD phase=$PHASE
echo "== pod $pod: $phase"
log=$(api "$base/api/v1/namespaces/default/pods/$pod/log")
echo "$log"
allocated_uuid=$(echo "$log" | sed -n 's/^CUDA_VISIBLE_DEVICES=//p')
seen=$(echo "$log" | sed -n 's/^device 0: .* uuid //p')
count=$(echo "$log" | sed -n 's/^cuda devices: //p')
echo "== allocated UUID $allocated_uuid; CUDA saw $count device(s), device 0 = $seen"
[[ "$phase" == Succeeded && "$count" == 1 && "${allocated_uuid,,}" == "${seen,,}" ]] || { echo "FAIL"; exit 1; }
echo "PASS: the pod saw exactly the GPU it was allocated"
