#!/usr/bin/env bash
# Packs what tests/gpu/containerd_on_gpu.sh needs on the GPU machine (no network, no container
# runtime, none of the project's packages) into DIR/bundle.tar.xz (compressed: the device tool
# carries at most 64 MiB): tests/gpu/bundle_cdi.sh's migdra with its libraries and the CUDA probe's
# sources, this machine's Debian containerd, containerd-shim-runc-v2, ctr and runc (with
# libseccomp), the static busybox, the pause image of scripts/oci_image.sh, and the private
# containerd helpers of tests/containerd.
# Usage: tests/gpu/bundle_containerd.sh DIR [BUILD]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dir=${1:?usage: bundle_containerd.sh DIR [BUILD]}
mkdir -p "$dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bash "$here/bundle_cdi.sh" "$work/bundle" "${2:-$root/build}" >/dev/null
mkdir -p "$work/bundle/containerd/lib"
for tool in containerd containerd-shim-runc-v2 ctr runc busybox; do
  cp -L "$(command -v "$tool")" "$work/bundle/containerd/"
done
ldd "$(command -v runc)" | awk '/libseccomp/ {print $3}' | xargs -r cp -L -t "$work/bundle/containerd/lib/"
bash "$root/scripts/oci_image.sh" "$work/images" >/dev/null
cp "$work/images/pause.tar" "$work/bundle/"
cp "$here/containerd_on_gpu.sh" "$root/tests/containerd/lib.sh" "$root/tests/containerd/cri.sh" "$work/bundle/"
tar -C "$work" -cf - bundle | xz -T2 -6 >"$dir/bundle.tar.xz"
echo "bundled $(du -h "$dir/bundle.tar.xz" | cut -f1) in $dir/bundle.tar.xz"
