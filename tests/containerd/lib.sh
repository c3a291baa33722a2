# A private containerd for tests: its own config, root, state, sockets and opt folder under one
# temp folder, started and stopped by PID, so that it never touches (or depends on) the machine's
# containerd. Shared by every test that needs containerd; source it from bash:
#
#   source tests/containerd/lib.sh
#   containerd_require || exit 77     # not root, or Debian's containerd/runc missing: skip
#   containerd_start "$tmp/containerd" # sets CONTAINERD_PID, CONTAINERD_SOCKET; 0 once it answers
#   containerd_ctr images import ...   # ctr on that socket, namespace $CONTAINERD_NAMESPACE
#   containerd_stop                    # kills the shims it started, then containerd, unmounts
#
# Options, set before containerd_start:
#   CONTAINERD_CRI=1          keep the CRI plugin (disabled by default: it is slow to start and
#                             needs CNI for pod networking); CONTAINERD_EXTRA_CONFIG is appended to
#                             the config (TOML), e.g. the CRI plugin's sandbox_image.
#   CONTAINERD_NAMESPACE      containerd namespace for containerd_ctr (default migdra-test).
# The snapshotter is `native` (plain copies): overlayfs is not available in every container
# that runs the tests. Needs root (containerd mounts and creates namespaces).

CONTAINERD_NAMESPACE=${CONTAINERD_NAMESPACE:-migdra-test}
CONTAINERD_PID=
CONTAINERD_SOCKET=
CONTAINERD_DIR=

containerd_require() {
  if [[ $(id -u) -ne 0 ]]; then
    echo "containerd: needs root (containerd mounts and creates namespaces)" >&2
    return 1
  fi
  local tool
  for tool in containerd containerd-shim-runc-v2 ctr runc; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "containerd: $tool not found (scripts/setup.sh installs Debian's containerd and runc)" >&2
      return 1
    fi
  done
}

containerd_start() {
  CONTAINERD_DIR=${1:?usage: containerd_start DIR}
  mkdir -p "$CONTAINERD_DIR"/{root,state,opt}
  CONTAINERD_SOCKET=$CONTAINERD_DIR/containerd.sock
  local disabled='"io.containerd.grpc.v1.cri", '
  [[ ${CONTAINERD_CRI:-0} == 1 ]] && disabled=
  cat >"$CONTAINERD_DIR/config.toml" <<TOML
version = 2
root = "$CONTAINERD_DIR/root"
state = "$CONTAINERD_DIR/state"
disabled_plugins = [${disabled}"io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "$CONTAINERD_SOCKET"

[ttrpc]
  address = "$CONTAINERD_SOCKET.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$CONTAINERD_DIR/opt"

[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "native"
${CONTAINERD_EXTRA_CONFIG:-}
TOML
  containerd --config "$CONTAINERD_DIR/config.toml" >"$CONTAINERD_DIR/containerd.log" 2>&1 &
  CONTAINERD_PID=$!
  local i
  for ((i = 0; i < 300; i++)); do
    if [[ -S $CONTAINERD_SOCKET ]] && ctr --address "$CONTAINERD_SOCKET" version >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "$CONTAINERD_PID" 2>/dev/null; then
      echo "containerd: exited while starting; its log:" >&2
      cat "$CONTAINERD_DIR/containerd.log" >&2
      CONTAINERD_PID=
      return 1
    fi
    sleep 0.1
  done
  echo "containerd: did not answer on $CONTAINERD_SOCKET within 30 s; its log:" >&2
  cat "$CONTAINERD_DIR/containerd.log" >&2
  return 1
}

# ctr against the private containerd, with the native snapshotter.
containerd_ctr() {
  CONTAINERD_SNAPSHOTTER=native ctr --address "$CONTAINERD_SOCKET" \
    --namespace "$CONTAINERD_NAMESPACE" "$@"
}

# Stops what containerd_start started: each shim of this containerd — known by the socket it was
# started for (containerd 1.6's runc shim records no shim.pid) — after its containers' processes
# (the shim's children: each container's init, whose PID namespace dies with it), then containerd
# itself; then removes the network namespaces its pod sandboxes had (CNI), and unmounts whatever
# is still mounted under the folder. Safe under `set -e`: each step may find its process already
# gone.
containerd_stop() {
  [[ -n $CONTAINERD_DIR ]] || return 0
  local proc shim netns
  netns=$(grep -rhoE '/var/run/netns/cni-[0-9a-f-]+' --include=config.json \
    "$CONTAINERD_DIR/state" 2>/dev/null | sort -u || true)
  for proc in /proc/[0-9]*; do
    [[ $({ tr '\0' ' ' <"$proc/cmdline"; } 2>/dev/null) == *" -address $CONTAINERD_SOCKET "* ]] || continue
    shim=${proc#/proc/}
    pkill -KILL -P "$shim" 2>/dev/null || true
    kill -KILL "$shim" 2>/dev/null || true
  done
  if [[ -n $CONTAINERD_PID ]] && kill -0 "$CONTAINERD_PID" 2>/dev/null; then
    kill -TERM "$CONTAINERD_PID"
    local i
    for ((i = 0; i < 100; i++)); do
      kill -0 "$CONTAINERD_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$CONTAINERD_PID" 2>/dev/null || true
    wait "$CONTAINERD_PID" 2>/dev/null || true
  fi
  CONTAINERD_PID=
  for proc in $netns; do
    umount "$proc" 2>/dev/null || true
    rm -f "$proc"
  done
  local mount
  while IFS= read -r mount; do
    umount -l "$mount" 2>/dev/null || true
  done < <(awk -v dir="$CONTAINERD_DIR" 'index($2, dir) == 1 { print $2 }' /proc/mounts | sort -r)
}
