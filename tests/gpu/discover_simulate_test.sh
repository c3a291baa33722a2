#!/usr/bin/env bash
# `migdra discover` on nvmlsim: the walkthrough's node (--simulate a100-80gb:8), both slice
# layouts, more than 8 GPUs, labels, errors, and the fallback when no GPU is present. Every slice
# printed in the default (1.35+) layout must pass `migdra validate`.
set -euo pipefail
migdra=${1:?usage: discover_simulate_test.sh MIGDRA}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset MIGDRA_NVMLSIM_CONFIG MIGDRA_NVMLSIM_STATE MIGDRA_NVMLSIM_FAULTS MIGDRA_NVMLSIM_MODELS

"$migdra" discover --simulate a100-80gb:8 -o json --node aks-gpu > "$tmp/a100.json" 2> "$tmp/err"
grep -q "simulating 8 x a100-80gb" "$tmp/err"
python3 - "$tmp/a100.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["kind"] == "List", doc["kind"]
items = doc["items"]
assert len(items) == 9, len(items)  # one counter slice (8 sets) + one device slice per GPU
devices = [d for s in items for d in s["spec"].get("devices", [])]
sets = [c for s in items for c in s["spec"].get("sharedCounters", [])]
assert len(sets) == 8 and len(devices) == 8 * 25, (len(sets), len(devices))
products = {d["attributes"]["productName"]["string"] for d in devices}
assert products == {"NVIDIA A100-SXM4-80GB"}, products
assert all(s["spec"]["pool"] == {"name": "aks-gpu", "generation": 1, "resourceSliceCount": 9} for s in items)
assert all(s["spec"]["driver"] == "gpu.nvidia.com" and s["spec"]["nodeName"] == "aks-gpu" for s in items)
names = {d["name"] for d in devices}
assert "gpu-0-mig-1g10gb-19-0" in names and "gpu-7-mig-7g80gb-0-0" in names
assert "gpu-0" not in names  # Ampere with MIG on: partitions only
print("walkthrough node: 8 x A100-SXM4-80GB,", len(devices), "MIG devices")
PY

"$migdra" discover --simulate a100-80gb:8 > "$tmp/a100.yaml" 2>/dev/null
"$migdra" discover --simulate a100-80gb:8 --layout 1.34 > "$tmp/a100-134.yaml" 2>/dev/null
"$migdra" discover --simulate h100-80gb:10,rtx-pro-6000:2 > "$tmp/mixed.yaml" 2>/dev/null
"$migdra" discover --simulate h200:2 --mig-mode static > "$tmp/static.yaml" 2>/dev/null
for f in a100.yaml mixed.yaml static.yaml; do
  "$migdra" validate -f "$tmp/$f"
done
# The 1.34 layout is for 1.34 API servers. `migdra validate` has 1.36's rules, which refuse it only
# because each slice holds both counter sets and devices.
one_of='spec: Invalid value: "": only one of `sharedCounters` or `devices` is allowed'
refusals=$("$migdra" validate -f "$tmp/a100-134.yaml" || true)
[ "$(grep -c "$one_of" <<<"$refusals")" = 8 ]
[ "$(grep -vc "$one_of" <<<"$refusals")" = 0 ]
[ "$(grep -c '^kind: ResourceSlice' "$tmp/a100-134.yaml")" = 8 ]
[ "$(grep -c '^kind: ResourceSlice' "$tmp/mixed.yaml")" = 14 ]  # 2 counter slices + 12 GPUs

"$migdra" discover --simulate a100-80gb:8 --labels -o json > "$tmp/labels.json" 2>/dev/null
python3 - "$tmp/labels.json" <<'PY'
import json, sys
labels = json.load(open(sys.argv[1]))
assert labels["nvidia.com/gpu.count"] == "8", labels
assert labels["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-80GB", labels
assert labels["nvidia.com/mig.capable"] == "true" and labels["nvidia.com/mig.strategy"] == "single"
PY

if "$migdra" discover --simulate v100:1 > /dev/null 2> "$tmp/err"; then
  echo "an unknown model must fail"; exit 1
fi
grep -q 'unknown GPU model "v100"' "$tmp/err"
if "$migdra" discover --nvml /nonexistent/libnvidia-ml.so.1 > /dev/null 2> "$tmp/err"; then
  echo "an unloadable --nvml must fail"; exit 1
fi
grep -q "/nonexistent/libnvidia-ml.so.1" "$tmp/err"

# Without a GPU, discover falls back to nvmlsim (the walkthrough's node) and says so.
if ! ldconfig -p 2>/dev/null | grep -q 'libnvidia-ml.so.1 '; then
  "$migdra" discover -o json > "$tmp/fallback.json" 2> "$tmp/err"
  grep -q "no GPU" "$tmp/err"
  grep -q "simulating 8 x a100-80gb" "$tmp/err"
fi
echo "discover on nvmlsim: ok"
