#!/usr/bin/env bash
# Builds just `migdra discover` (and the NVML ABI checker) with g++ on a machine that lacks the
# project's library dependencies — such as the GPU test machine, which has no network. Header-only
# dependencies and yaml-cpp come from $MIGDRA_DEPS (include/ and lib/), prepared on the build
# machine by tests/gpu/pack_deps.sh. The full CMake build is used instead whenever it configures.
# Usage: tests/gpu/build_minimal.sh OUT_DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: build_minimal.sh OUT_DIR}
deps=${MIGDRA_DEPS:-$root/build-gpu/deps}
mkdir -p "$out/obj"
python3 - "$root/src/gpu/catalog.json" "$out/catalog_data.cc" <<'PY'
import sys
text = open(sys.argv[1]).read()
open(sys.argv[2], "w").write(
    "namespace migdra::gpu {\nextern const char kCatalogJson[];\n"
    "const char kCatalogJson[] = R\"migdra_catalog(" + text + ")migdra_catalog\";\n}\n")
PY
cxx=${CXX:-g++}
flags=(-std=c++20 -O1 -Wall -Wextra -Wno-unused-parameter -I"$root/src" -isystem "$deps/include"
       -DMIGDRA_VERSION=\"gpu-test\")
sources=(src/cli/main.cc src/cli/discover_cmd.cc
         src/gpu/geometry.cc src/gpu/catalog.cc src/gpu/nvml.cc src/gpu/inventory.cc
         src/gpu/sim_identity.cc src/driver/slice_builder.cc src/driver/node_labels.cc
         src/api/quantity.cc src/api/semver.cc src/api/codec.cc src/api/yaml.cc)
pids=()
for s in "${sources[@]}"; do
  "$cxx" "${flags[@]}" -c "$root/$s" -o "$out/obj/$(echo "$s" | tr / _).o" & pids+=($!)
done
"$cxx" "${flags[@]}" -c "$out/catalog_data.cc" -o "$out/obj/catalog_data.o" & pids+=($!)
for p in "${pids[@]}"; do wait "$p"; done
"$cxx" -o "$out/migdra" "$out"/obj/*.o "$deps/lib/libyaml-cpp.a" -ldl -pthread
echo "built $out/migdra"
