#!/usr/bin/env bash
# The pod network of `migdra serve --runtime containerd:SOCKET`: a private containerd
# (tests/containerd/lib.sh) given a CNI configuration — Debian's containernetworking-plugins,
# `bridge` on a bridge of its own (host-local IPAM on a private /24, no masquerading, no gateway;
# containerd adds the loopback network itself, with the `loopback` plugin) — so that its CRI
# Status says NetworkReady, driven by the real kubectl:
#  1. a pod gets an IP of that subnet as status.podIP, and its container has a network of its own:
#     `ip addr` shows that IP on eth0, /proc/net/dev only lo and eth0, the pod's name is its
#     hostname and an env fieldRef status.podIP reads the IP; kubectl port-forward reaches a port
#     the container listens on (inside its network);
#  2. a pod with spec.hostNetwork: true keeps the node's network (podIP the node's; the host's
#     interfaces, the test's bridge among them, in /proc/net/dev);
#  3. once the pods are gone no sandbox is left; the bridge, the IPAM and CNI cache files go.
# Without a CNI configuration pods keep the host's network: containerd.sh covers that.
# Usage: containerd_cni.sh PATH/TO/migdra   (skipped without root, containerd, runc or the CNI
# plugins; fails without umoci, skopeo or busybox-static)
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/tests/containerd/lib.sh"
source "$ROOT/tests/containerd/cri.sh"
cri_test_require || exit 77
CRI_CNI_BIN_DIR=/usr/lib/cni
for plugin in bridge host-local loopback; do
  [[ -x $CRI_CNI_BIN_DIR/$plugin ]] || {
    echo "CNI plugin $plugin not in $CRI_CNI_BIN_DIR (scripts/setup.sh installs containernetworking-plugins)" >&2
    exit 77
  }
done

# Names of this run only: the bridge (at most 15 characters), the network (the CNI cache files
# are named after it) and a /24 no route of this host touches.
BRIDGE=migcni$((RANDOM % 100000))
NETWORK=migdra-e2e-$BRIDGE
subnet=
for _ in $(seq 50); do
  candidate=10.$((200 + RANDOM % 50)).$((RANDOM % 256))
  if ! ip -4 route show | grep -q "^$candidate\."; then
    subnet=$candidate
    break
  fi
done
[[ -n $subnet ]] || fail "no free private /24 found"

# What the CNI plugins leave outside the test's folder when a sandbox is not torn down (the test
# failed): the bridge, and containerd's CNI result cache of this network and of each sandbox's
# loopback (its network namespaces: containerd_stop).
e2e_cni_cleanup() {
  local rc=$? sandbox
  stop_server
  for sandbox in $(ls "$CONTAINERD_DIR/state/io.containerd.runtime.v2.task/k8s.io" 2>/dev/null); do
    rm -f "/var/lib/cni/results/cni-loopback-$sandbox-lo"
  done
  containerd_stop || true
  ip link del "$BRIDGE" 2>/dev/null || true
  rm -f /var/lib/cni/results/"$NETWORK"-* 2>/dev/null || true
  set +e  # errexit would end the trap at the next line
  (exit $rc)
  cleanup
}
trap e2e_cni_cleanup EXIT

export CRI_CNI_BIN_DIR CRI_CNI_CONF_DIR=$E2E_TMP/cni-conf
mkdir -p "$CRI_CNI_CONF_DIR"
cat >"$CRI_CNI_CONF_DIR/10-$NETWORK.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "$NETWORK",
  "plugins": [{
    "type": "bridge",
    "bridge": "$BRIDGE",
    "isGateway": false,
    "ipMasq": false,
    "ipam": {
      "type": "host-local",
      "ranges": [[{"subnet": "$subnet.0/24"}]],
      "dataDir": "$E2E_TMP/ipam"
    }
  }]
}
JSON
cri_containerd_start "$E2E_TMP"
DEMO=localhost/migdra/demo:1
start_server --runtime "containerd:$CONTAINERD_SOCKET"

pod() {  # pod NAME HOST_NETWORK COMMAND
  cat <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: $1
spec:
  hostNetwork: $2
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: $DEMO
    imagePullPolicy: Never
    command: ["/bin/sh", "-c", "$3"]
    env:
    - name: POD_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
YAML
}

# 1. The pod network.
http_port=$(free_port)
pod networked false "mkdir -p /tmp/www && echo served-in-the-pod-network >/tmp/www/index.html && httpd -p $http_port -h /tmp/www && sleep 3600" |
  k apply -f - >/dev/null
k wait --for=jsonpath='{.status.phase}'=Running pod/networked --timeout=120s >/dev/null ||
  fail "the pod did not run: $(k get pod networked -o json | jq -c .status)"
ip=$(k get pod networked -o jsonpath='{.status.podIP}')
[[ $ip == "$subnet".* && $ip != "$subnet.0" ]] || fail "podIP $ip is not of $subnet.0/24"
[[ $(k get pod networked -o jsonpath='{.status.podIPs[0].ip}') == "$ip" ]] || fail "podIPs: $(k get pod networked -o jsonpath='{.status.podIPs}')"
addresses=$(k exec networked -- ip addr)
[[ $addresses == *"inet $ip/24"* ]] || fail "the container's ip addr lacks $ip/24: $addresses"
interfaces=$(k exec networked -- cat /proc/net/dev | sed -n 's/^ *\([^:]*\):.*/\1/p' | sort | tr '\n' ' ')
[[ $interfaces == "eth0 lo " ]] || fail "the container's interfaces: $interfaces (want eth0 and lo only)"
[[ $(k exec networked -- hostname) == networked ]] || fail "hostname: $(k exec networked -- hostname)"
[[ $(k exec networked -- sh -c 'echo $POD_IP') == "$ip" ]] || fail "env POD_IP (fieldRef status.podIP): $(k exec networked -- sh -c 'echo $POD_IP')"
local_port=$(free_port)
k port-forward pod/networked "$local_port:$http_port" >"$E2E_TMP/forward.out" 2>&1 &
forward_pid=$!
forwarding() { grep -q '^Forwarding from' "$E2E_TMP/forward.out"; }
wait_for "kubectl port-forward to listen" 60 forwarding
page=$(curl -s --max-time 30 "http://127.0.0.1:$local_port/" || true)
kill "$forward_pid"
wait "$forward_pid" 2>/dev/null || true
[[ $page == served-in-the-pod-network ]] || fail "kubectl port-forward: '$page' ($(cat "$E2E_TMP/forward.out"))"
pass "a pod in the CNI network: podIP $ip of $subnet.0/24 (also as its env's fieldRef), eth0 and lo of its own, its name as hostname, port-forward reaches it"

# 2. spec.hostNetwork: the node's network even so.
pod hostnet true "cat /proc/net/dev; sleep 3600" | k apply -f - >/dev/null
k wait --for=jsonpath='{.status.phase}'=Running pod/hostnet --timeout=120s >/dev/null ||
  fail "the hostNetwork pod did not run: $(k get pod hostnet -o json | jq -c .status)"
[[ $(k get pod hostnet -o jsonpath='{.status.podIP}') == 127.0.0.1 ]] ||
  fail "hostNetwork podIP: $(k get pod hostnet -o jsonpath='{.status.podIP}')"
host_interfaces=$(k exec hostnet -- cat /proc/net/dev)
[[ $host_interfaces == *"$BRIDGE:"* ]] || fail "the hostNetwork pod does not see the host's interfaces: $host_interfaces"
pass "a hostNetwork pod keeps the node's network (podIP 127.0.0.1, the host's interfaces)"

# 3. Nothing left.
k delete pods --all >/dev/null
no_sandbox_left() {
  [[ $(containerd_ctr containers ls -q 'labels."io.cri-containerd.kind"==sandbox' | grep -c .) == 0 ]]
}
wait_for "no sandbox left" 120 no_sandbox_left
pass "no sandbox left"
echo "containerd CNI e2e: all passed"
