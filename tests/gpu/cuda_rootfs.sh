# cuda_probe_rootfs SOURCE ROOTFS: builds tests/gpu/cuda_probe.cu (SOURCE) with nvcc into ROOTFS
# with the libraries it loads (what ldd lists, and what the CUDA runtime opens with dlopen) and
# nothing of the NVIDIA driver; fails (message on stderr) when nvcc fails or a driver file got in.
# Sourced by the GPU-machine scripts cdi_on_gpu.sh and containerd_on_gpu.sh.
cuda_probe_rootfs() {
  local source=$1 rootfs=$2 libs name f driver_files
  mkdir -p "$rootfs"
  nvcc -O2 -o "$rootfs/cuda_probe" "$source" || { echo "nvcc failed" >&2; return 1; }
  libs=$(ldd "$rootfs/cuda_probe" | grep -o '/[^ ]*')
  for name in libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1 libgcc_s.so.1 libstdc++.so.6; do
    [[ -e /lib/x86_64-linux-gnu/$name ]] && libs+=" /lib/x86_64-linux-gnu/$name"
  done
  for f in $libs; do
    mkdir -p "$rootfs$(dirname "$f")"
    cp -L "$f" "$rootfs$f"
  done
  driver_files=$(cd "$rootfs" && find . \( -name '*nvidia*' -o -name 'libcuda*' -o -name 'libnv*' -o -name 'gsp*' \))
  [[ -z "$driver_files" ]] || { echo "the root file system holds driver files: $driver_files" >&2; return 1; }
}
