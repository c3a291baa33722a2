#!/usr/bin/env bash
# On a GPU machine: compares `migdra discover` with nvidia-smi (-L, --query-gpu, mig -lgip,
# mig -lgipp) field by field, and migdra's NVML declarations with the real nvml.h.
# STRICTLY READ-ONLY: only discovery commands run; nothing changes MIG mode or instances.
# Usage: tests/gpu/compare_discover.sh [MIGDRA_BINARY]   (default: build it with build_minimal.sh)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${OUT:-/tmp}/compare-discover
mkdir -p "$work"
status=0

echo "== NVML ABI: migdra's declarations vs $(ls /usr/local/cuda/include/nvml.h 2>/dev/null || echo 'nvml.h (not found)')"
inc=/usr/local/cuda/include
if [ -f "$inc/nvml.h" ]; then
  g++ -std=c++20 -I"$root/src" -I"$inc" -DMIGDRA_REAL_NVML_H "$root/tests/gpu/check_nvml_abi.cc" "$root/src/gpu/geometry.cc" -o "$work/abi-real" &&
  g++ -std=c++20 -I"$root/src" "$root/tests/gpu/check_nvml_abi.cc" "$root/src/gpu/geometry.cc" -o "$work/abi-ours" &&
  "$work/abi-real" > "$work/abi-real.txt" && "$work/abi-ours" > "$work/abi-ours.txt"
  if diff "$work/abi-real.txt" "$work/abi-ours.txt" > "$work/abi.diff"; then
    echo "ABI OK: $(grep -c '^struct' "$work/abi-real.txt") structs, $(grep -c '^  ' "$work/abi-real.txt") fields, $(grep -c '^constant' "$work/abi-real.txt") constants, $(grep -c '^function' "$work/abi-real.txt") functions identical"
  else
    echo "ABI MISMATCH:"; cat "$work/abi.diff"; status=1
  fi
else
  echo "no nvml.h; ABI check skipped"; status=1
fi

migdra=${1:-}
if [ -z "$migdra" ]; then
  build=${BUILD_DIR:-/tmp/migdra-minimal}
  bash "$root/tests/gpu/build_minimal.sh" "$build" > "$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
  migdra="$build/migdra"
fi

echo "== nvidia-smi"
nvidia-smi -L | tee "$work/smi-L.txt"
nvidia-smi --query-gpu=index,uuid,name,pci.bus_id,memory.total,mig.mode.current,compute_cap,driver_version \
  --format=csv,noheader | tee "$work/smi-query.csv"
nvidia-smi -q | awk '/^GPU /{i++} /Minor Number/{print i-1 ", " $NF}' > "$work/smi-minor.txt"
nvidia-smi -q | grep -E "Product Brand|Product Architecture|Minor Number|MIG Mode" -A0 | sort | uniq -c
nvidia-smi mig -lgip > "$work/lgip.txt" 2>&1
nvidia-smi mig -lgipp > "$work/lgipp.txt" 2>&1
cat "$work/lgip.txt" "$work/lgipp.txt"

echo "== migdra discover"
"$migdra" discover -o json --node gpu-node > "$work/slices.json" 2> "$work/discover.err" || { cat "$work/discover.err"; exit 1; }
cat "$work/discover.err"
"$migdra" discover -o json --labels --node gpu-node > "$work/labels.json" 2>/dev/null
"$migdra" discover -o yaml --node gpu-node > "$work/slices.yaml" 2>/dev/null
"$migdra" discover -o json --layout 1.34 --node gpu-node > "$work/slices-1.34.json" 2>/dev/null
python3 -c "import json,sys; s=json.load(open(sys.argv[1]))['items']; print(len(s), 'slices,', sum(len(x['spec'].get('devices',[])) for x in s), 'devices,', sum(len(x['spec'].get('sharedCounters',[])) for x in s), 'counter sets')" "$work/slices.json"
cat "$work/labels.json"

echo "== comparison"
python3 "$root/tests/gpu/compare_discover.py" "$work" || status=1
exit $status
