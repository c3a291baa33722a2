#!/usr/bin/env bash
# On the GPU machine (read-only for the GPU: a whole-GPU claim only, and nothing runs unless MIG
# mode is off on every GPU, so no MIG instance can be created or destroyed): `migdra serve
# --runtime containerd` with a private containerd (Debian's containerd and runc from the bundle;
# own root, state and socket) runs a Job whose image holds a CUDA program and no driver file
# (cuda_rootfs.sh) — no command in the pod: the image's entrypoint runs. The claim's CDI edits
# reach the container as CRI devices and mounts (containerd 1.6 applies no CDI), so the container
# must list exactly one GPU device node, find the driver through what the spec mounts, see the
# allocated GPU's UUID through CUDA and compute; afterwards no container or sandbox is left.
# Usage: containerd_on_gpu.sh BUNDLE_TAR_XZ OUT_DIR   (BUNDLE_TAR_XZ from
# tests/gpu/bundle_containerd.sh; OUT_DIR gets serve's and containerd's logs)
set -uo pipefail
mkdir -p "${2:?usage: containerd_on_gpu.sh BUNDLE_TAR_XZ OUT_DIR}"
out=$(cd "$2" && pwd)
work=$(mktemp -d)
tar -C "$work" -xJf "${1:?usage: containerd_on_gpu.sh BUNDLE_TAR_XZ OUT_DIR}"
bundle=$work/bundle
export PATH=$bundle/containerd:$PATH
source "$bundle/lib.sh"
source "$bundle/cri.sh"
source "$bundle/cuda_rootfs.sh"
source "$bundle/serve_api.sh"

modes=$(nvidia-smi --query-gpu=mig.mode.current --format=csv,noheader | sort -u)
if [[ "$modes" != "Disabled" && "$modes" != "[N/A]" ]]; then
  echo "SKIP: MIG mode is '$modes' on some GPU; this test only runs where no MIG instance could be created"
  exit 0
fi
nvidia-smi -L
containerd_require || exit 1
echo "containerd $(containerd --version | awk '{print $3}'); kernel $(uname -r); cgroups $(stat -fc %T /sys/fs/cgroup)"
serve_pid=
finish() {
  [[ -n $serve_pid ]] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
  cp "$work/serve.log" "$out/serve.log" 2>/dev/null
  cp "$CONTAINERD_DIR/containerd.log" "$out/containerd.log" 2>/dev/null
  containerd_stop
  rm -rf "$work"
}
trap finish EXIT

echo "== the image: the CUDA probe, glibc and busybox, no driver file"
rootfs=$work/rootfs
cuda_probe_rootfs "$bundle/cuda_probe.cu" "$rootfs" || { echo "FAIL: the CUDA probe's root file system"; exit 1; }
mkdir -p "$rootfs/bin" "$rootfs/dev" "$rootfs/proc" "$rootfs/sys" "$rootfs/tmp"
cp "$bundle/containerd/busybox" "$rootfs/bin/busybox"
for applet in sh ls tr; do ln -sf busybox "$rootfs/bin/$applet"; done
cat >"$rootfs/probe.sh" <<'SCRIPT'
echo "gpu device nodes: $(ls /dev/nvidia[0-9]* 2>/dev/null | tr '\n' ' ')"
exec /cuda_probe
SCRIPT
# A docker archive of one layer, with the LD_LIBRARY_PATH NVIDIA's CUDA images set.
python3 - "$rootfs" "$work/cuda-probe.tar" localhost/migdra/cuda-probe:1 <<'PY'
import hashlib, io, json, sys, tarfile
rootfs, out, name = sys.argv[1:]
layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w") as t:
    t.add(rootfs, arcname=".")
layer = layer.getvalue()
config = json.dumps({"architecture": "amd64", "os": "linux",
    "config": {"Entrypoint": ["/bin/sh", "/probe.sh"],
               "Env": ["PATH=/bin", "LD_LIBRARY_PATH=/usr/local/nvidia/lib:/usr/local/nvidia/lib64"]},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}}).encode()
config_name = hashlib.sha256(config).hexdigest() + ".json"
manifest = json.dumps([{"Config": config_name, "RepoTags": [name], "Layers": ["layer.tar"]}]).encode()
with tarfile.open(out, "w") as t:
    for n, data in (("layer.tar", layer), (config_name, config), ("manifest.json", manifest)):
        info = tarfile.TarInfo(n)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
PY

echo "== private containerd with the CRI plugin"
LD_LIBRARY_PATH=$bundle/containerd/lib CONTAINERD_CRI=1 \
  CONTAINERD_EXTRA_CONFIG=$(containerd_cri_config "$work") containerd_start "$work/containerd" ||
  { echo "FAIL: containerd did not start"; exit 1; }
CONTAINERD_NAMESPACE=k8s.io
containerd_ctr images import "$bundle/pause.tar" >/dev/null &&
  containerd_ctr images import "$work/cuda-probe.tar" >/dev/null ||
  { echo "FAIL: image import"; exit 1; }
containerd_ctr images ls -q

echo "== migdra serve --runtime containerd (real NVML)"
port=16443
LD_LIBRARY_PATH=$bundle/lib "$bundle/bin/migdra" serve --data-dir "$work/data" --listen 127.0.0.1:$port --runtime "containerd:$CONTAINERD_SOCKET" \
  >"$work/serve.out" 2>"$work/serve.log" &
serve_pid=$!
serve_wait_ready $port "$serve_pid" "$work/data" || { echo "FAIL: serve did not become ready"; cat "$work/serve.log"; exit 1; }
grep 'runtime:' "$work/serve.log"
api() { serve_api "$@"; }
base=$SERVE_BASE
api $base/api/v1/nodes | python3 -c 'import json,sys; n=json.load(sys.stdin)["items"][0]; print("node", n["metadata"]["name"], n["status"]["nodeInfo"]["containerRuntimeVersion"])'
# serve installs NVIDIA's DeviceClasses; gpu.nvidia.com selects whole GPUs.
api -X POST $base/apis/resource.k8s.io/v1/namespaces/default/resourceclaimtemplates -d '{"apiVersion":"resource.k8s.io/v1","kind":"ResourceClaimTemplate","metadata":{"name":"one-gpu"},"spec":{"spec":{"devices":{"requests":[{"name":"gpu","exactly":{"deviceClassName":"gpu.nvidia.com"}}]}}}}' >/dev/null
api -X POST $base/apis/batch/v1/namespaces/default/jobs -d '{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"cuda-probe"},"spec":{"backoffLimit":0,"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"probe","image":"localhost/migdra/cuda-probe:1","imagePullPolicy":"Never","resources":{"claims":[{"name":"gpu"}]}}],"resourceClaims":[{"name":"gpu","resourceClaimTemplateName":"one-gpu"}]}}}}' >/dev/null

serve_wait_job_pod cuda-probe
pod=$POD phase=$PHASE
echo "== pod $pod: $phase"
api "$base/api/v1/namespaces/default/pods/$pod" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin).get("status",{}).get("containerStatuses",[]), indent=1))' | head -30
log=$(api "$base/api/v1/namespaces/default/pods/$pod/log")
echo "$log"
# The claim is deallocated once the pod ends: its device's UUID is what the driver's CDI spec for
# the claim set (CUDA_VISIBLE_DEVICES), and it must be a GPU the node published.
uuid=$(sed -n 's/^CUDA_VISIBLE_DEVICES=//p' <<<"$log")
published=$(api "$base/apis/resource.k8s.io/v1/resourceslices" | python3 -c '
import json,sys
print(" ".join(d["attributes"]["uuid"]["string"] for s in json.load(sys.stdin)["items"]
               for d in s["spec"].get("devices", []) if d["attributes"]["type"]["string"] == "gpu"))')
nodes=$(sed -n 's/^gpu device nodes: //p' <<<"$log" | xargs)
seen=$(sed -n 's/^device 0: .* uuid //p' <<<"$log")
count=$(sed -n 's/^cuda devices: //p' <<<"$log")
computed=$(grep -c '^device 0: kernel result' <<<"$log")
echo "== allocated $uuid (published GPUs: $published); the container's GPU device nodes: '$nodes'; CUDA saw $count device(s), device 0 = $seen"

api -X DELETE "$base/apis/batch/v1/namespaces/default/jobs/cuda-probe?propagationPolicy=Foreground" >/dev/null
for _ in $(seq 60); do
  [[ $(containerd_ctr containers ls -q | grep -c .) == 0 ]] && break
  sleep 1
done
left=$(containerd_ctr containers ls -q | grep -c .)
echo "== containers and sandboxes left after the Job's deletion: $left"
[[ "$phase" == Succeeded && "$count" == 1 && -n "$uuid" && " $published " == *" $uuid "* &&
  "${uuid,,}" == "${seen,,}" &&
  $(wc -w <<<"$nodes") == 1 && "$computed" == 1 && "$left" == 0 ]] || { echo "FAIL"; exit 1; }
echo "PASS: the container saw exactly its GPU's device node and UUID, found the driver through the CDI mounts, and computed"
