#!/usr/bin/env bash
# Packs what tests/gpu/cdi_on_gpu.sh needs on the GPU machine (which has no network and none of
# the project's libraries) into DIR: bin/migdra and bin/migdra-container-shim from BUILD (default
# build/), the shared libraries migdra links beyond glibc and the C++ runtime in lib/, and the
# test's scripts and CUDA source.
# Usage: tests/gpu/bundle_cdi.sh DIR [BUILD]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: bundle_cdi.sh DIR [BUILD]}
build=${2:-$here/../../build}
rm -rf "$dir"
mkdir -p "$dir/bin" "$dir/lib"
cp "$build/src/cli/migdra" "$build/src/cli/migdra-container-shim" "$dir/bin/"
ldd "$build/src/cli/migdra" | awk '/=> \//{print $3}' |
  grep -Ev '/(libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|ld-linux[^/]*)\.so' | xargs -r cp -L -t "$dir/lib/"
cp "$here/cdi_on_gpu.sh" "$here/cdi_run.py" "$here/cuda_probe.cu" "$here/cuda_rootfs.sh" "$here/serve_api.sh" "$dir/"
echo "bundled $(du -sh "$dir" | cut -f1) in $dir"
