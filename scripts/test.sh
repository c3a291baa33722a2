#!/usr/bin/env bash
# Builds migdra and runs every test: unit, property, conformance, fuzz (bounded) and end-to-end.
# Usage: scripts/test.sh            (from anywhere; installs what is missing first)
# Environment: BUILD_DIR (default build), JOBS (default: number of cores).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh

build=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}
# ccache keys on paths relative to the checkout, so a fresh clone elsewhere reuses earlier work.
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache} CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=1

echo "== configure ($build)"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE=-O2 -DMIGDRA_WERROR=ON >/dev/null
echo "== build (-j$jobs)"
ninja -C "$build" -j "$jobs"

if [[ -f fuzz/CMakeLists.txt ]]; then
  echo "== build fuzzers (clang-19, libFuzzer + ASan/UBSan)"
  cmake -S fuzz -B "$build-fuzz" -G Ninja -DCMAKE_CXX_COMPILER=clang++-19 -DCMAKE_C_COMPILER=clang-19 >/dev/null
  ninja -C "$build-fuzz" -j "$jobs"
fi

# ThreadSanitizer: the threaded modules' tests and the migdra binary only (tests/tsan/ runs them),
# at -O1 with line tables, which keeps the build and the runs bounded.
echo "== build for ThreadSanitizer ($build-tsan)"
cmake -S . -B "$build-tsan" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1" \
  -DMIGDRA_SANITIZE=thread -DMIGDRA_BENCH=OFF -DMIGDRA_WERROR=ON >/dev/null
ninja -C "$build-tsan" -j "$jobs" migdra control_test driver_test kube_test cel_test

echo "== test"
cd "$build"
ctest --output-on-failure -j "$jobs" --timeout 900
