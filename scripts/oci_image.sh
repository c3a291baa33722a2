#!/usr/bin/env bash
# Builds small OCI images here, without a registry or a container engine, from Debian's umoci,
# skopeo and busybox-static: the pause image of migdra's containerd pods and the demo image whose
# default command prints the GPU/MIG device it was given and works for a while.
#
# Usage:
#   scripts/oci_image.sh OUT_DIR
#       writes OUT_DIR/pause.tar and OUT_DIR/demo.tar (docker archives, named
#       localhost/migdra/pause:1 and localhost/migdra/demo:1), ready for
#       `ctr -n k8s.io images import`.
#   source scripts/oci_image.sh     (the helpers below, for other image scripts)
#
# Helpers (each takes an OCI layout folder LAYOUT and an image tag TAG):
#   oci_busybox_image LAYOUT TAG ROOTFS_SETUP   new image: busybox-static as /bin/busybox with its
#                                               applets linked in /bin, then ROOTFS_SETUP ROOTFS
#                                               (a function) adds files; one layer
#   oci_set_config LAYOUT TAG UMOCI_CONFIG_ARGS...   sets entrypoint/cmd/env (umoci config flags)
#   oci_docker_archive LAYOUT TAG NAME OUT_TAR  exports the image as a docker archive named NAME
set -euo pipefail

MIGDRA_PAUSE_IMAGE=localhost/migdra/pause:1
MIGDRA_DEMO_IMAGE=localhost/migdra/demo:1

oci_busybox_image() {
  local layout=$1 tag=$2 setup=$3 bundle busybox
  busybox=$(command -v busybox) || { echo "oci_image: busybox-static is not installed" >&2; return 1; }
  [[ -d $layout ]] || umoci init --layout "$layout"
  umoci new --image "$layout:$tag"
  bundle=$(mktemp -d "${TMPDIR:-/tmp}/migdra-oci.XXXXXX")
  umoci unpack --image "$layout:$tag" "$bundle/b" >/dev/null
  local rootfs=$bundle/b/rootfs
  mkdir -p "$rootfs/bin" "$rootfs/dev" "$rootfs/proc" "$rootfs/sys" "$rootfs/tmp" "$rootfs/etc"
  cp "$busybox" "$rootfs/bin/busybox"
  local applet
  for applet in $("$busybox" --list); do
    [[ $applet == busybox ]] || ln -sf busybox "$rootfs/bin/$applet"
  done
  "$setup" "$rootfs"
  umoci repack --image "$layout:$tag" "$bundle/b" >/dev/null
  rm -rf "$bundle"
}

oci_set_config() {
  local layout=$1 tag=$2
  shift 2
  umoci config --image "$layout:$tag" "$@"
}

oci_docker_archive() {
  local layout=$1 tag=$2 name=$3 out=$4
  rm -f "$out"
  skopeo copy --quiet "oci:$layout:$tag" "docker-archive:$out:$name"
}

# The pause image: PATH with busybox, sleeping forever (containerd stops a sandbox with SIGKILL).
pause_rootfs() { :; }

# The demo image: stands in for the walkthrough's samples-tf-mnist-demo (same arguments,
# `--max_steps N`, default 100). It lists the NVIDIA GPU device nodes it sees (the whole-GPU
# nodes /dev/nvidiaN and the MIG capability nodes), prints the devices NVIDIA_VISIBLE_DEVICES
# names (a MIG device's UUID), then works through the steps, 100 a second (one process per
# second, so that many copies at once stay cheap), printing its progress every 100 steps, and
# exits 0.
demo_rootfs() {
  cat >"$1/bin/gpu-demo" <<'SCRIPT'
#!/bin/sh
steps=100
while [ $# -gt 0 ]; do
  case $1 in
    --max_steps) steps=$2; shift 2 ;;
    --max_steps=*) steps=${1#*=}; shift ;;
    *) echo "gpu-demo: unknown argument $1" >&2; exit 2 ;;
  esac
done
nodes=$(ls /dev/nvidia[0-9]* /dev/nvidia-caps/nvidia-cap[0-9]* 2>/dev/null)
echo "gpu device nodes: $(echo $nodes)"
echo "visible devices: ${NVIDIA_VISIBLE_DEVICES:-none}"
done_steps=0
while [ "$done_steps" -lt "$steps" ]; do
  sleep 1
  done_steps=$((done_steps + 100))
  [ "$done_steps" -gt "$steps" ] && done_steps=$steps
  echo "step $done_steps/$steps"
done
echo "done"
SCRIPT
  chmod 755 "$1/bin/gpu-demo"
}

build_test_images() {
  local out=$1
  mkdir -p "$out"
  local layout=$out/oci
  rm -rf "$layout"
  oci_busybox_image "$layout" pause pause_rootfs
  oci_set_config "$layout" pause --config.env PATH=/bin --config.entrypoint /bin/sleep \
    --config.cmd 2147483647
  oci_docker_archive "$layout" pause "$MIGDRA_PAUSE_IMAGE" "$out/pause.tar"
  oci_busybox_image "$layout" demo demo_rootfs
  oci_set_config "$layout" demo --config.env PATH=/bin --config.entrypoint /bin/gpu-demo
  oci_docker_archive "$layout" demo "$MIGDRA_DEMO_IMAGE" "$out/demo.tar"
  rm -rf "$layout"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  [[ $# == 1 ]] || { echo "usage: $0 OUT_DIR" >&2; exit 2; }
  build_test_images "$1"
fi
