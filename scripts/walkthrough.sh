#!/usr/bin/env bash
# The main job: builds migdra and runs the "MIG with DRA on AKS" walkthrough against it.
# For now it validates the walkthrough's manifests; see README.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMIGDRA_TESTS=OFF -DMIGDRA_BENCH=OFF >/dev/null
ninja -C "$build" migdra
"$build/src/cli/migdra" validate -f examples/aks-mig/
echo "walkthrough manifests are valid"
