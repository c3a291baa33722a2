#!/usr/bin/env bash
# The main job: the "MIG with DRA on AKS" walkthrough on `migdra serve`, driven by the real kubectl.
#
# It builds migdra (installing what is missing), starts `migdra serve` on its embedded default
# (this machine's GPUs, or a simulated 8 x A100-80GB node when there is none), applies the
# walkthrough's DeviceClass and ResourceClaimTemplate, runs the walkthrough's kubectl commands,
# then runs 56 copies of the runnable Job at the same time: each pod gets a 1g.10gb MIG partition
# of its own, carved on demand and destroyed when the pod ends. A per-GPU map of partitions is
# printed while they run.
#
# Where serve runs containers through containerd (its choice, printed at start-up), the Jobs are
# the walkthrough's own examples/aks-mig/job.yaml with only the image replaced by the demo image
# of scripts/oci_image.sh (made here and imported into containerd with ctr); with host processes
# they are examples/aks-mig/local/job.yaml, which runs a command instead of the image.
#
# Usage: scripts/walkthrough.sh
# Environment: JOBS (default 56), TRAIN_SECONDS (default 60: how long each pod works), MIGDRA (a built migdra binary:
# skips the build), KEEP=1 keeps the server's data directory, SIMULATE (default: embedded default).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

jobs=${JOBS:-56}
train_seconds=${TRAIN_SECONDS:-60}
if [[ -z "${MIGDRA:-}" ]]; then
  bash scripts/setup.sh
  build=${BUILD_DIR:-build}
  export CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=1
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE=-O2 >/dev/null
  echo "== building migdra"
  ninja -C "$build" migdra migdra_nvmlsim
  MIGDRA=$root/$build/src/cli/migdra
fi
command -v kubectl >/dev/null || { echo "walkthrough: kubectl is required" >&2; exit 2; }

work=$(mktemp -d /tmp/migdra-walkthrough.XXXXXX)
data=$work/data
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
server_pid=
cleanup() {
  local rc=$?
  if [[ -n "$server_pid" ]]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [[ $rc -ne 0 ]]; then
    echo "--- migdra serve log (last 40 lines)" >&2
    tail -n 40 "$work/serve.log" >&2 || true
  fi
  [[ "${KEEP:-0}" == 1 ]] && echo "kept $work" || rm -rf "$work"
  exit $rc
}
trap cleanup EXIT

serve_flags=(--data-dir "$data" --listen "127.0.0.1:$port")
[[ -n "${SIMULATE:-}" ]] && serve_flags+=(--simulate "$SIMULATE")
echo "== migdra serve ${serve_flags[*]}"
"$MIGDRA" serve "${serve_flags[@]}" >"$work/serve.out" 2>"$work/serve.log" &
server_pid=$!
for _ in $(seq 600); do
  curl -sk --max-time 1 "https://127.0.0.1:$port/readyz" 2>/dev/null | grep -q ok && break
  kill -0 "$server_pid" 2>/dev/null || { echo "migdra serve exited" >&2; exit 1; }
  sleep 0.1
done
grep -m1 '^export KUBECONFIG' "$work/serve.out" || true
export KUBECONFIG=$data/kubeconfig
k() { timeout 60 kubectl --request-timeout 30s "$@"; }

echo "== kubectl apply -f examples/aks-mig/deviceclass.yaml -f examples/aks-mig/resourceclaimtemplate.yaml"
k apply -f examples/aks-mig/deviceclass.yaml -f examples/aks-mig/resourceclaimtemplate.yaml
echo "== kubectl get deviceclasses"
k get deviceclasses
echo "== kubectl get resourceslices"
k get resourceslices
node=$(k get nodes -o jsonpath='{.items[0].metadata.name}')
echo "== kubectl describe node $node | grep gpu"
k describe node "$node" | grep gpu | sed -n "1,12p"
echo "== kubectl describe node $node | grep mig"
k describe node "$node" | grep mig | sed -n "1,8p"
echo "== kubectl get resourceclaimtemplate"
k get resourceclaimtemplate

runtime=$(grep -h -m1 'runtime: ' "$work/serve.out" "$work/serve.log" | sed 's/^migdra serve: //' || true)
echo "== $runtime"
if [[ $runtime == "runtime: containerd"* ]]; then
  # The demo image (100 steps a second) stands in for the TensorFlow image, which needs a registry.
  socket=${runtime##* at }
  bash scripts/oci_image.sh "$work/images" >/dev/null
  ctr --address "$socket" --namespace k8s.io images import "$work/images/demo.tar" >/dev/null
  job_file=examples/aks-mig/job.yaml
  job_edit=(-e "s|^        image: .*|        image: localhost/migdra/demo:1|"
            -e "s|\"--max_steps\", \"500\"|\"--max_steps\", \"$((train_seconds * 100))\"|")
else
  job_file=examples/aks-mig/local/job.yaml
  job_edit=(-e "s/value: \"15\"/value: \"$train_seconds\"/")
fi
echo "== $jobs copies of the runnable Job ($job_file)"
manifests=$work/jobs.yaml
: >"$manifests"
for i in $(seq 1 "$jobs"); do
  sed -e "s/^  name: samples-tf-mnist-demo$/  name: samples-tf-mnist-demo-$i/" "${job_edit[@]}" "$job_file" >>"$manifests"
  echo "---" >>"$manifests"
done
start=$(date +%s.%N)
k apply -f "$manifests" >/dev/null

# The per-GPU map of partitions: which MIG devices are allocated on each GPU right now.
partition_map() {
  k get resourceclaims -o json | jq -r '
    [.items[] | .status.allocation.devices.results[]? | .device] |
    map(capture("^gpu-(?<gpu>[0-9]+)(-mig-(?<profile>[^-]+)-[0-9]+-(?<start>[0-9]+))?$")) |
    group_by(.gpu | tonumber) | .[] |
    "  gpu-\(.[0].gpu): " + (map(if .profile then "[\(.profile)@\(.start)]" else "[whole GPU]" end) | sort | join(" "))'
}

running=0
max_running=0
deadline=$((SECONDS + 600))
while ((SECONDS < deadline)); do
  counts=$(k get pods -o json | jq -r '[([.items[] | select(.status.phase=="Running")] | length),
                                        ([.items[] | select(.status.phase=="Succeeded")] | length)] | @tsv')
  running=${counts%%$'\t'*}
  succeeded=${counts##*$'\t'}
  ((running > max_running)) && max_running=$running
  if ((running == jobs || running + succeeded >= jobs)); then break; fi
  sleep 1
done
elapsed=$(python3 -c "import time; print(f'{time.time()-$start:.1f}')")
echo "== $running of $jobs pods Running ${elapsed}s after kubectl apply; partitions per GPU:"
partition_map
sim_state=$data/driver/nvmlsim-state.json
if [[ -f "$sim_state" ]]; then
  echo "   MIG instances that exist on the (simulated) GPUs: $(jq '[.gpus[].gis[]] | length' "$sim_state")"
fi
echo "== kubectl get resourceclaims (first 10)"
k get resourceclaims | sed -n "1,11p"
echo "== kubectl get pods -o wide (first 10)"
k get pods -o wide | sed -n "1,11p"

echo "== waiting for every Job to complete"
until [[ $(k get jobs -o json | jq '[.items[] | select(any(.status.conditions[]?; .type=="Complete" and .status=="True"))] | length') == "$jobs" ]]; do
  ((SECONDS < deadline)) || { echo "timed out waiting for the Jobs" >&2; k get jobs | head; exit 1; }
  sleep 2
done
k get jobs | sed -n "1,6p"

uuids=$work/uuids
: >"$uuids"
for pod in $(k get pods -o jsonpath='{.items[*].metadata.name}'); do
  k logs "$pod" | sed -n 's/^visible devices: //p' >>"$uuids"
done
distinct=$(sort -u "$uuids" | grep -c . || true)
mig=$(grep -c '^MIG-' "$uuids" || true)
echo "== pods that reported a device: $(grep -c . "$uuids"); distinct devices: $distinct; MIG devices: $mig"
sample=$(head -n 1 "$uuids")
echo "   e.g. $sample"

echo "== after completion: partitions still allocated:"
for _ in $(seq 60); do
  left=$(partition_map | grep -c mig || true)
  ((left == 0)) && break
  sleep 1
done
partition_map
echo "   ($left GPUs with MIG partitions allocated)"
instances=0
if [[ -f "$sim_state" ]]; then
  instances=$(jq '[.gpus[].gis[]] | length' "$sim_state")
  echo "   MIG instances left on the (simulated) GPUs: $instances"
fi

echo "== most pods Running at once: $max_running of $jobs"
if ((distinct != jobs || mig != jobs || left != 0 || instances != 0 || max_running != jobs)); then
  echo "walkthrough: FAILED (expected $jobs pods running at once on distinct MIG devices, none left afterwards)" >&2
  exit 1
fi
echo "walkthrough: OK — $jobs jobs ran at once, each on its own MIG partition; all partitions destroyed"
