#!/usr/bin/env bash
# On the GPU machine (read-only for the GPU: nothing here changes MIG mode, creates instances,
# resets, or touches clocks or power): `migdra discover --cdi` writes the CDI spec for this
# machine's real driver installation (driver root /, NVML's driver version), and a CUDA program
# in a root file system that holds no driver file at all — the program and glibc/libstdc++, with
# the LD_LIBRARY_PATH NVIDIA's CUDA images set — runs with the spec's device gpu-0 (a whole GPU) applied by
# tests/gpu/cdi_run.py. It must find the driver through what the spec mounts alone, see exactly
# the allocated GPU (the UUID of minor 0), and compute. The same program without the spec must
# not find a driver. A run's output: data/cdi_on_gpu-h100.log and data/cdi-spec-h100.json
# (reproduce: tests/gpu/bundle_cdi.sh DIR here, then cdi_on_gpu.sh DIR OUT there).
# Usage: cdi_on_gpu.sh BUNDLE_DIR OUT_DIR   (BUNDLE_DIR from tests/gpu/bundle_cdi.sh; OUT_DIR gets
# the spec, cdi-spec.json)
set -uo pipefail
bundle=$(cd "${1:?usage: cdi_on_gpu.sh BUNDLE_DIR OUT_DIR}" && pwd)
mkdir -p "${2:?usage: cdi_on_gpu.sh BUNDLE_DIR OUT_DIR}"
out=$(cd "$2" && pwd)
migdra() { LD_LIBRARY_PATH=$bundle/lib "$bundle/bin/migdra" "$@"; }
work=$(mktemp -d)
failures=()

echo "== GPU machine"
nvidia-smi --query-gpu=index,uuid,name,driver_version,mig.mode.current --format=csv,noheader
echo "kernel $(uname -r); nvidia-cdi-hook on PATH: $(command -v nvidia-cdi-hook || echo none)"
echo "ld cache: $(ldconfig -p | grep -E 'libcuda.so|libnvidia-ml.so' | tr -s ' \t' ' ' | tr '\n' ';')"

echo "== migdra discover --cdi (driver root /)"
if ! migdra discover --cdi -o json >"$out/cdi-spec.json" 2>"$work/discover.err"; then
  cat "$work/discover.err"
  echo "FAIL: migdra discover --cdi"
  exit 1
fi
cat "$work/discover.err"
python3 - "$out/cdi-spec.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
e = s["containerEdits"]
print(f"cdiVersion {s['cdiVersion']}, kind {s['kind']}, devices {[d['name'] for d in s['devices']]}")
for d in s["devices"]:
    print(f"  {d['name']}: {[n['path'] for n in d['containerEdits']['deviceNodes']]}")
print(f"common device nodes: {[n['path'] for n in e.get('deviceNodes', [])]}")
print(f"env: {e.get('env', [])}")
print(f"hooks: {[' '.join(h['args'][:2]) for h in e.get('hooks', [])]}")
mounts = e.get("mounts", [])
print(f"{len(mounts)} mounts:")
for m in mounts:
    same = "" if m["hostPath"] == m["containerPath"] else f" (host {m['hostPath']})"
    print(f"  {m['containerPath']}{same} {','.join(m['options'])}")
PY

echo "== CUDA program and a root file system without the driver"
rootfs=$work/rootfs
source "$bundle/cuda_rootfs.sh"
cuda_probe_rootfs "$bundle/cuda_probe.cu" "$rootfs" || { echo "FAIL: the CUDA program's root file system"; exit 1; }
echo "rootfs files: $(cd "$rootfs" && find . -type f | sort | tr '\n' ' ')"

# NVIDIA's CUDA images set this (the toolkit's legacy mount point); the spec's env comes on top.
image_env=(--image-env LD_LIBRARY_PATH=/usr/local/nvidia/lib:/usr/local/nvidia/lib64)
echo "image env: ${image_env[*]}"
echo "== without the spec"
cp -a "$rootfs" "$work/r0"
python3 "$bundle/cdi_run.py" --no-spec --rootfs "$work/r0" "${image_env[@]}" -- /cuda_probe >"$work/nospec.out" 2>&1
rc=$?
cat "$work/nospec.out"
[[ $rc != 0 ]] || failures+=("the program ran without the spec")

echo "== with the spec's device gpu-0"
minor0_uuid=$(grep -l '^Device Minor:[[:space:]]*0$' /proc/driver/nvidia/gpus/*/information 2>/dev/null |
  head -1 | xargs -r sed -n 's/^GPU UUID:[[:space:]]*//p')
[[ -n "$minor0_uuid" ]] || minor0_uuid=$(nvidia-smi -i 0 --query-gpu=uuid --format=csv,noheader)
echo "allocated: gpu-0 = $minor0_uuid"
cp -a "$rootfs" "$work/r1"
python3 "$bundle/cdi_run.py" --spec "$out/cdi-spec.json" --device gpu-0 --rootfs "$work/r1" \
  "${image_env[@]}" -- /cuda_probe >"$work/probe.out" 2>"$work/apply.err"
rc=$?
grep -c '^cdi_run: mount' "$work/apply.err" | sed 's/^/mounts applied: /'
grep -E '^cdi_run: (device node|hook)' "$work/apply.err"
grep -Ev '^cdi_run: (mount|device node|hook)' "$work/apply.err"
cat "$work/probe.out"
[[ $rc == 0 ]] || failures+=("the program exited $rc with the spec")
grep -q '^cuda devices: 1$' "$work/probe.out" || failures+=("not exactly one CUDA device")
seen=$(sed -n 's/^device 0: .* uuid //p' "$work/probe.out")
[[ "${seen,,}" == "${minor0_uuid,,}" ]] || failures+=("saw $seen, allocated $minor0_uuid")
grep -q 'kernel result 42' "$work/probe.out" || failures+=("no kernel result")

if ((${#failures[@]})); then
  printf 'FAIL: %s\n' "${failures[@]}"
  exit 1
fi
echo "PASS: the CUDA program found the driver through the spec alone, saw $seen and computed"
