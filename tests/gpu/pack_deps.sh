#!/usr/bin/env bash
# Copies the header-only dependencies and yaml-cpp's static library of this (build) machine into
# DIR/include and DIR/lib, for tests/gpu/build_minimal.sh on a machine without them.
set -euo pipefail
dir=${1:?usage: pack_deps.sh DIR}
mkdir -p "$dir/include" "$dir/lib"
cp -r /usr/include/nlohmann /usr/include/CLI /usr/include/yaml-cpp "$dir/include/"
cp /usr/lib/x86_64-linux-gnu/libyaml-cpp.a "$dir/lib/"
