#!/usr/bin/env bash
# A real CDI consumer runs a container from the spec `migdra discover --cdi` writes for a
# fabricated GPU-Operator driver root: podman (its CDI support is the CDI reference library)
# runs `--device k8s.gpu.nvidia.com/claim=gpu-0`, and the container must see exactly the mounts
# and device nodes the spec lists — no more, no fewer, read-only where the spec says so, with the
# host nodes' numbers — and, when the root has nvidia-cdi-hook, podman must run the spec's hooks
# with the spec's arguments. The root is built with real tools: tiny shared objects with sonames
# (cc), the root's ld.so.cache and soname links written by ldconfig -r, device nodes by mknod.
# Needs root (mknod, ldconfig -r, a private mount namespace for /run/cdi) and podman + runc.
# Exit 77 (skipped) when those are missing.
# Usage: cdi_podman_test.sh MIGDRA
set -euo pipefail
migdra=$(realpath "${1:?usage: cdi_podman_test.sh MIGDRA}")
here=$(cd "$(dirname "$0")" && pwd)
if [[ $(id -u) != 0 ]] || ! command -v podman >/dev/null || ! command -v runc >/dev/null ||
   ! command -v cc >/dev/null; then
  echo "SKIP: needs root, podman, runc and cc"
  exit 77
fi

work=$(mktemp -d /tmp/migdra-cdi-podman.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/run/nvidia/driver
v=580.65.06
lib=$root/usr/lib/x86_64-linux-gnu
mkdir -p "$lib/vdpau" "$root/etc" "$root/usr/bin" "$root/lib/firmware/nvidia/$v" \
         "$root/run/nvidia-persistenced" "$root/dev/nvidia-caps"
so() {  # so FILE SONAME: a shared object with that soname
  echo 'int migdra_fake(void) { return 0; }' | cc -shared -x c - -Wl,-soname,"$2" -o "$1"
}
for name in cuda:1 nvidia-ml:1 nvidia-ptxjitcompiler:1 nvidia-nvvm:4; do
  so "$lib/lib${name%:*}.so.$v" "lib${name%:*}.so.${name#*:}"
done
so "$lib/vdpau/libvdpau_nvidia.so.$v" libvdpau_nvidia.so.1
so "$lib/libnvidia-ml.so.470.256.02" libnvidia-ml.so.1  # another driver's leftover
ln -s libnvidia-ml.so.1 "$lib/libnvidia-ml.so"
echo /usr/lib/x86_64-linux-gnu >"$root/etc/ld.so.conf"
ldconfig -r "$root"   # the root's ld.so.cache and soname links, as the driver installer leaves them
printf '#!/bin/sh\necho nvidia-smi\n' >"$root/usr/bin/nvidia-smi"
chmod +x "$root/usr/bin/nvidia-smi"
echo firmware >"$root/lib/firmware/nvidia/$v/gsp_ga10x.bin"
python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
  "$root/run/nvidia-persistenced/socket"
mknod "$root/dev/nvidiactl" c 195 255
mknod "$root/dev/nvidia-modeset" c 195 254
mknod "$root/dev/nvidia-uvm" c 237 0
mknod "$root/dev/nvidia-uvm-tools" c 237 1
mknod "$root/dev/nvidia0" c 195 0

# The container's root file system: a shell and coreutils with their libraries, no driver file.
rootfs=$work/rootfs
mkdir -p "$rootfs"/{proc,sys,dev,etc,tmp}
for bin in /bin/sh /bin/cat /usr/bin/stat /bin/ls; do
  for f in "$bin" $(ldd "$bin" | grep -o '/[^ ]*'); do
    mkdir -p "$rootfs$(dirname "$f")"
    cp -L "$f" "$rootfs$f"
  done
done

# Runs the container in a private mount namespace whose /run/cdi holds only our spec; prints
# /proc/self/mountinfo, then "path major:minor" of every character device under /dev.
run() {  # run SPEC_OR_EMPTY PODMAN_ARGS...
  local spec=$1
  shift
  unshare -m bash -c '
    set -e
    mount -t tmpfs migdra-cdi /run/cdi 2>/dev/null || { mkdir -p /run/cdi; mount -t tmpfs migdra-cdi /run/cdi; }
    mount -t tmpfs migdra-cdi /etc/cdi 2>/dev/null || true
    if [[ -n "$1" ]]; then cp "$1" /run/cdi/k8s.gpu.nvidia.com-claim_test.json; fi
    shift
    podman --runtime runc --cgroup-manager cgroupfs run --rm --network none \
      --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 "$@" --rootfs "'"$rootfs"'" \
      /bin/sh -c "cat /proc/self/mountinfo; echo ==; stat -c \"%n %t:%T\" \$(ls -d /dev/* /dev/*/* 2>/dev/null) 2>/dev/null | while read -r n t; do [ -c \$n ] && echo \$n \$t; done; echo =="
  ' run "$spec" "$@"
}

check() {  # check SPEC BASELINE OUTPUT: the container saw exactly what the spec lists
  python3 - "$@" <<'PY'
import json, os, sys
spec = json.load(open(sys.argv[1]))
def parse(text):
    mountinfo, devices, _ = text.split("==\n")
    mounts = {}
    for line in mountinfo.splitlines():
        f = line.split()
        mounts[f[4]] = f[5].split(",")
    nodes = dict(l.split() for l in devices.splitlines())
    return mounts, nodes
base_mounts, base_nodes = parse(open(sys.argv[2]).read())
mounts, nodes = parse(open(sys.argv[3]).read())
edits = [spec["containerEdits"]] + [d["containerEdits"] for d in spec["devices"] if d["name"] == "gpu-0"]
want_mounts = {m["containerPath"]: m for e in edits for m in e.get("mounts", [])}
want_nodes = {n["path"]: n for e in edits for n in e.get("deviceNodes", [])}
errors = []
got_mounts = {p for p in mounts if p not in base_mounts}
if got_mounts != set(want_mounts):
    errors.append(f"mounts: extra {sorted(got_mounts - set(want_mounts))}, missing {sorted(set(want_mounts) - got_mounts)}")
for path, m in want_mounts.items():
    if path in mounts and ("ro" in m["options"]) != ("ro" in mounts[path]):
        errors.append(f"{path}: mounted {mounts[path]}, spec says {m['options']}")
got_nodes = {p for p in nodes if p not in base_nodes}
if got_nodes != set(want_nodes):
    errors.append(f"nodes: extra {sorted(got_nodes - set(want_nodes))}, missing {sorted(set(want_nodes) - got_nodes)}")
for path, n in want_nodes.items():
    st = os.stat(n.get("hostPath", path))
    want = f"{os.major(st.st_rdev):x}:{os.minor(st.st_rdev):x}"
    if nodes.get(path) != want:
        errors.append(f"{path}: {nodes.get(path)} in the container, host node is {want}")
# The driver's files appear where a CUDA image looks for them: the driver root stripped.
lib, v = "/usr/lib/x86_64-linux-gnu", sys.argv[4]
required = [f"{lib}/libcuda.so.{v}", f"{lib}/libnvidia-ml.so.{v}", f"{lib}/vdpau/libvdpau_nvidia.so.{v}",
            "/usr/bin/nvidia-smi", f"/lib/firmware/nvidia/{v}/gsp_ga10x.bin",
            "/run/nvidia-persistenced/socket"]
if "hooks" not in spec["containerEdits"]:
    required += [f"{lib}/libcuda.so.1", f"{lib}/libcuda.so", f"{lib}/libnvidia-ml.so.1"]
for path in required:
    if path not in mounts:
        errors.append(f"{path} is not mounted in the container")
for path in ["/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"]:
    if path not in nodes:
        errors.append(f"{path} is not a device node in the container")
print(f"container saw {len(want_mounts)} mounts and {len(want_nodes)} device nodes of the spec")
if errors:
    print("\n".join(errors))
    sys.exit(1)
PY
}

run "" >"$work/baseline.out"
for hook in without with; do
  if [[ $hook == with ]]; then
    printf '#!/bin/sh\necho "$@" >>%s/hook.log\ncat >/dev/null\n' "$work" >"$root/usr/bin/nvidia-cdi-hook"
    chmod +x "$root/usr/bin/nvidia-cdi-hook"
  fi
  "$migdra" discover --cdi --driver-root "$root" --simulate a100-80gb:1 -o json >"$work/spec.json" 2>"$work/discover.err"
  echo "== $hook nvidia-cdi-hook: cdiVersion $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cdiVersion"])' "$work/spec.json")"
  run "$work/spec.json" --device k8s.gpu.nvidia.com/claim=gpu-0 >"$work/container.out"
  check "$work/spec.json" "$work/baseline.out" "$work/container.out" "$v"
done
# podman ran each hook of the spec, with the spec's arguments.
python3 - "$work/spec.json" "$work/hook.log" <<'PY'
import json, sys
hooks = json.load(open(sys.argv[1]))["containerEdits"]["hooks"]
want = sorted(" ".join(h["args"][1:]) for h in hooks)
got = sorted(open(sys.argv[2]).read().splitlines())
assert want == got, f"hooks run: {got}\nspec: {want}"
print(f"podman ran the spec's {len(hooks)} hooks: " + "; ".join(w.split(" ")[0] for w in want))
PY
echo PASS
