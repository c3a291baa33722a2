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
for _ in $(seq 300); do
  curl -sk --max-time 1 https://127.0.0.1:$port/readyz | grep -q ok && break
  sleep 0.1
done
token=$(cat "$work/data/token")
api() { curl -sk --max-time 30 -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$@"; }
base=https://127.0.0.1:$port
echo "== ResourceSlices published from real NVML"
api $base/apis/resource.k8s.io/v1/resourceslices | python3 -c '
import json,sys
for s in json.load(sys.stdin)["items"]:
  for d in s["spec"].get("devices", []):
    a = d.get("attributes", {})
    if a.get("type", {}).get("string") == "gpu":
      print(" ", d["name"], a.get("uuid", {}).get("string"), a.get("productName", {}).get("string"))'

api -X POST $base/apis/resource.k8s.io/v1/deviceclasses -d '{"apiVersion":"resource.k8s.io/v1","kind":"DeviceClass","metadata":{"name":"gpu.nvidia.com"},"spec":{"selectors":[{"cel":{"expression":"device.driver == '"'"'gpu.nvidia.com'"'"' && device.attributes['"'"'gpu.nvidia.com'"'"'].type == '"'"'gpu'"'"'"}}]}}' >/dev/null
api -X POST $base/apis/resource.k8s.io/v1/namespaces/default/resourceclaimtemplates -d '{"apiVersion":"resource.k8s.io/v1","kind":"ResourceClaimTemplate","metadata":{"name":"one-gpu"},"spec":{"spec":{"devices":{"requests":[{"name":"gpu","exactly":{"deviceClassName":"gpu.nvidia.com"}}]}}}}' >/dev/null
api -X POST $base/apis/batch/v1/namespaces/default/jobs -d '{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"cuda-probe"},"spec":{"backoffLimit":0,"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"probe","image":"none","command":["'"$work"'/cuda_probe"],"resources":{"claims":[{"name":"gpu"}]}}],"resourceClaims":[{"name":"gpu","resourceClaimTemplateName":"one-gpu"}]}}}}' >/dev/null

phase=
for _ in $(seq 120); do
  pod=$(api "$base/api/v1/namespaces/default/pods" | python3 -c 'import json,sys; i=json.load(sys.stdin)["items"]; print(i[0]["metadata"]["name"] if i else "")')
  if [[ -n "$pod" ]]; then
    phase=$(api "$base/api/v1/namespaces/default/pods/$pod" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("status",{}).get("phase",""))')
    [[ "$phase" == Succeeded || "$phase" == Failed ]] && break
  fi
  sleep 1
done
echo "== pod $pod: $phase"
log=$(api "$base/api/v1/namespaces/default/pods/$pod/log")
echo "$log"
claim_device=$(api "$base/apis/resource.k8s.io/v1/namespaces/default/resourceclaims" | python3 -c 'import json,sys; print([r["device"] for c in json.load(sys.stdin)["items"] for r in c["status"].get("allocation",{}).get("devices",{}).get("results",[])])')
echo "== allocated: $claim_device"
allocated_uuid=$(echo "$log" | sed -n 's/^CUDA_VISIBLE_DEVICES=//p')
seen=$(echo "$log" | sed -n 's/^device 0: .* uuid //p')
count=$(echo "$log" | sed -n 's/^cuda devices: //p')
echo "== allocated UUID $allocated_uuid; CUDA saw $count device(s), device 0 = $seen"
[[ "$phase" == Succeeded && "$count" == 1 && "${allocated_uuid,,}" == "${seen,,}" ]] || { echo "FAIL"; exit 1; }
echo "PASS: the pod saw exactly the GPU it was allocated"
