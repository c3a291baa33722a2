#!/usr/bin/env bash
# `migdra serve --runtime containerd:SOCKET` with a private containerd (own root, state and
# socket, native snapshotter; tests/containerd/lib.sh) on the simulated 8 x A100-80GB node,
# driven by the real kubectl, with images made here (scripts/oci_image.sh: pause, demo):
#  1. serve prints its choice and the node's containerRuntimeVersion is containerd's;
#  2. the walkthrough's Job with only its image replaced by the demo image, 56 copies at once:
#     serve is killed (-9) while they run and started again; every container ran once (one whole
#     run in its last attempt's log; an earlier attempt only a start the kill cancelled, StartError
#     as with a kubelet, whose --previous log is at most the beginning of that run),
#     listed exactly one GPU device node — that of the GPU its claim's partition is on — and
#     printed a MIG UUID of that GPU (56 distinct), as its log (written while it ran) and the
#     MigDeviceCreated events (which outlive claims) say; all Jobs complete;
#  3. a container sees neither serve's data directory, its token nor serve's environment;
#  4. logs: `kubectl logs -f` follows a running container to its end (--timestamps --tail read
#     containerd's CRI log as a kubelet); a failing container
#     (restartPolicy OnFailure) is restarted with back-off, `kubectl logs --previous` shows the
#     previous attempt and lastState its exit code;
#  5. an image that cannot be pulled: ErrImagePull then ImagePullBackOff with the runtime's
#     message; imagePullPolicy Never and no image: ErrImageNeverPull;
#  6. kubectl exec (its exit code, -i, and -it under a pseudo-terminal), attach and port-forward
#     with the real kubectl: exec and attach proxied to containerd's streaming server;
#  7. kubectl delete of a running pod returns once the pod is gone;
#  8. once everything is deleted no container, sandbox or MIG partition is left.
# Usage: containerd.sh PATH/TO/migdra   (skipped without root, containerd or runc; fails without
# umoci, skopeo or busybox-static, which scripts/setup.sh installs)
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/tests/containerd/lib.sh"
source "$ROOT/tests/containerd/cri.sh"
cri_test_require || exit 77

e2e_containerd_cleanup() {
  local rc=$?
  stop_server
  containerd_stop || true
  set +e  # errexit would end the trap at the next line
  (exit $rc)
  cleanup
}
trap e2e_containerd_cleanup EXIT

cri_containerd_start "$E2E_TMP"
DEMO=localhost/migdra/demo:1

# containers_are KIND N: containerd holds N containers of KIND (container | sandbox).
cri_objects() { containerd_ctr containers ls -q "labels.\"io.cri-containerd.kind\"==$1" | grep -c . || true; }

# 1. The choice.
export MIGDRA_SECRET_PROBE=serve-env-only
start_server --runtime "containerd:$CONTAINERD_SOCKET"
grep -q "runtime: containerd 1\.[0-9.]*.* (CRI v1) at $CONTAINERD_SOCKET" "$SERVER_LOG" "$SERVER_LOG.out" ||
  fail "serve did not print its runtime choice: $(cat "$SERVER_LOG.out" "$SERVER_LOG")"
version=$(k get node e2e-node -o jsonpath='{.status.nodeInfo.containerRuntimeVersion}')
[[ $version == containerd://1.* ]] || fail "containerRuntimeVersion: $version"
pass "serve prints its runtime choice; containerRuntimeVersion $version"

# 2. 56 copies of the walkthrough's Job, image replaced, serve killed mid-run.
k apply -f "$EXAMPLES/deviceclass.yaml" -f "$EXAMPLES/resourceclaimtemplate.yaml" >/dev/null
walkthrough_jobs mnist 1 56 | sed "s|^        image: .*|        image: $DEMO|" | k apply -f - >/dev/null
started_pods_at_least() {
  (($(k get pods -o json | jq '[.items[] | select(.status.phase == "Running" or .status.phase == "Succeeded")] | length') >= $1))
}
wait_for "10 pods started" 300 started_pods_at_least 10
killed_at=$(date +%s)
kill -9 "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=
start_server --runtime "containerd:$CONTAINERD_SOCKET"
jobs_complete() { [[ $(k get jobs -o json | jq '[.items[] | select(.status.succeeded == 1)] | length') == 56 ]]; }
wait_for "56 Jobs complete" 480 jobs_complete
pods=$(k get pods -l 'job-name' -o json)
[[ $(jq '[.items[] | select(.status.phase == "Succeeded")] | length' <<<"$pods") == 56 ]] ||
  fail "not 56 Succeeded pods: $(jq -r '.items[] | .metadata.name + " " + .status.phase' <<<"$pods")"
# A StartContainer that the kill cancelled ends that attempt: containerd 1.6 kills the task it was
# starting (its process may have begun, and printed its first lines) and reports it exited 128,
# StartError (its message names whichever step the cancel cut: the shim's start, the task's
# creation or start), as the kill happened; the pod restarts it, as with a kubelet (so at most
# one restart here). What must never happen is a container running twice: the last
# attempt holds one whole run, and an earlier attempt is only ever such a cancelled start whose
# log (--previous) is at most the beginning of that same run — never its end.
# What each container saw, from its log (written while it ran), against the device its claim was
# given (the runner's MigDeviceCreated event, which outlives the claim). A partition's UUID exists
# only while it does; the simulator's MIG UUIDs name their GPU (MIG-<0x51a00000 + GPU index>-…),
# so the UUID a container printed must be on its claim's GPU, and the 56 must be distinct.
created=$(k get events -o json | jq -r '.items[] | select(.reason == "MigDeviceCreated") | .message')
uuids=()
for name in $(jq -r '.items[].metadata.name' <<<"$pods"); do
  log=$(k logs "$name")
  nodes=$(sed -n 's/^gpu device nodes: //p' <<<"$log")
  seen=$(sed -n 's/^visible devices: //p' <<<"$log")
  [[ $log == *"step 500/500"*"done"* ]] || fail "$name did not finish its work: $log"
  [[ $(grep -c '^gpu device nodes:' <<<"$log") == 1 ]] || fail "$name ran more than once in one attempt: $log"
  status=$(jq -c --arg n "$name" '.items[] | select(.metadata.name == $n) | .status.containerStatuses[0]' <<<"$pods")
  case $(jq -r .restartCount <<<"$status") in
    0) ;;
    1)
      jq -e --argjson killed "$killed_at" '.lastState.terminated | .exitCode == 128 and
               .reason == "StartError" and (.finishedAt | fromdateiso8601) >= $killed - 1 and
               (.finishedAt | fromdateiso8601) <= $killed + 60' <<<"$status" >/dev/null ||
        fail "$name restarted after an attempt that was not a start the kill cancelled: $status"
      previous=$(k logs --previous "$name")
      [[ -z $previous || ($previous != *"done"* && $log == "$previous"$'\n'*) ]] ||
        fail "$name ran more than once: its cancelled start printed '$previous', then it printed '$log'"
      ;;
    *) fail "$name restarted more than once: $status" ;;
  esac
  device=$(sed -n "s|^created MIG device \(.*\) for pod default/$name\$|\1|p" <<<"$created" | sort -u)
  [[ $device =~ ^gpu-([0-7])-mig-1g10gb-[0-9]+-[0-9]+$ ]] || fail "$name: MIG devices created for it: '$device'"
  gpu=${BASH_REMATCH[1]}
  [[ $nodes == "/dev/nvidia$gpu" ]] || fail "$name ($device) sees device nodes '$nodes', want /dev/nvidia$gpu"
  [[ $seen == "MIG-51a0000$gpu-"* ]] || fail "$name ($device) prints '$seen', not a partition of GPU $gpu"
  uuids+=("$seen")
done
[[ $(printf '%s\n' "${uuids[@]}" | sort -u | wc -l) == 56 ]] || fail "the 56 MIG UUIDs are not distinct"
pass "56 walkthrough Jobs on the demo image, serve killed -9 mid-run: all complete, each container ran once, saw one GPU node and its own MIG UUID"

pod() {  # pod NAME RESTART_POLICY IMAGE [COMMAND_JSON] [PULL_POLICY]
  cat <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: $1
spec:
  restartPolicy: $2
  terminationGracePeriodSeconds: 10
  containers:
  - name: main
    image: $3
    imagePullPolicy: ${5:-IfNotPresent}
    ${4:+command: $4}
    resources:
      claims:
      - name: gpu
  resourceClaims:
  - name: gpu
    resourceClaimTemplateName: mig-gpu-1g
YAML
}

# 3. Isolation.
pod isolated Never "$DEMO" "[\"/bin/sh\", \"-c\", \"ls $DATA_DIR 2>&1; ls $DATA_DIR/token 2>&1; env\"]" | k apply -f - >/dev/null
k wait --for=jsonpath='{.status.phase}'=Succeeded pod/isolated --timeout=120s >/dev/null
log=$(k logs isolated)
[[ $log == *"$DATA_DIR: No such file or directory"* ]] || fail "the container sees serve's data dir: $log"
[[ $log != *MIGDRA_SECRET_PROBE* && $log != *KUBECONFIG* ]] || fail "the container has serve's environment: $log"
[[ $log == *"NVIDIA_VISIBLE_DEVICES=MIG-"* ]] || fail "the container lacks its device's environment: $log"
pass "a container sees neither serve's data dir nor its environment"

# 4. Logs: -f to the end; restarts with back-off and --previous.
pod follow Never "$DEMO" '["/bin/sh", "-c", "for i in 1 2 3 4 5; do echo tick $i; sleep 0.5; done"]' | k apply -f - >/dev/null
k wait --for=jsonpath='{.status.phase}'=Running pod/follow --timeout=120s >/dev/null
followed=$(k logs -f follow)
[[ $followed == *"tick 1"*"tick 5" ]] || fail "kubectl logs -f: $followed"
# containerd's CRI log files read as a kubelet: its timestamps with nine digits of fraction.
stamped=$(k logs --timestamps --tail=2 follow)
stamp='20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]\.[0-9]{9}(Z|[+-][0-9][0-9]:[0-9][0-9])'
stamped_lines="^$stamp tick 4"$'\n'"$stamp tick 5\$"
[[ $stamped =~ $stamped_lines ]] || fail "kubectl logs --timestamps --tail=2: $stamped"
pod crashing OnFailure "$DEMO" '["/bin/sh", "-c", "echo attempt at $(date +%s%N); exit 3"]' | k apply -f - >/dev/null
restarted() { (($(k get pod crashing -o jsonpath='{.status.containerStatuses[0].restartCount}') >= 1)); }
wait_for "crashing to restart" 120 restarted
k get pod crashing -o json | jq -e '.status.containerStatuses[0].lastState.terminated.exitCode == 3' >/dev/null ||
  fail "lastState: $(k get pod crashing -o jsonpath='{.status.containerStatuses[0].lastState}')"
previous=$(k logs --previous crashing)
[[ $previous == "attempt at "* ]] || fail "kubectl logs --previous: $previous"
backing_off() {
  [[ $(k get pod crashing -o jsonpath='{.status.containerStatuses[0].state.waiting.reason}') == CrashLoopBackOff ]]
}
wait_for "CrashLoopBackOff" 120 backing_off
pass "kubectl logs -f follows to the end, --timestamps --tail from containerd's log; OnFailure restarts with back-off; --previous shows the last attempt"

# 5. Pull failures.
# ErrImagePull shows until the first retry (half a second later): the pod's every version is
# watched from its creation on, and the first waiting reason after ContainerCreating must be it.
rv=$(pod unpullable Never localhost:1/migdra/absent:1 | k create -f - -o jsonpath='{.metadata.resourceVersion}')
curl -skN --max-time 150 -H "Authorization: Bearer $TOKEN" \
  "https://127.0.0.1:$PORT/api/v1/namespaces/default/pods?watch=1&fieldSelector=metadata.name%3Dunpullable&resourceVersion=$rv" \
  >"$E2E_TMP/unpullable.watch" &
watch_pid=$!
waiting_reason() { [[ $(k get pod "$1" -o jsonpath='{.status.containerStatuses[0].state.waiting.reason}') == "$2" ]]; }
wait_for "ImagePullBackOff" 120 waiting_reason unpullable ImagePullBackOff
kill "$watch_pid"
wait "$watch_pid" 2>/dev/null || true
first=$(jq -c '.object.status.containerStatuses[0].state.waiting // empty | select(.reason != "ContainerCreating")' \
  "$E2E_TMP/unpullable.watch" | head -n 1)
[[ $(jq -r .reason <<<"$first") == ErrImagePull && $(jq -r .message <<<"$first") == *"localhost:1/migdra/absent:1"* ]] ||
  fail "the first pull failure reads $first"
pod never Never localhost/migdra/absent:1 "" Never | k apply -f - >/dev/null
wait_for "ErrImageNeverPull" 120 waiting_reason never ErrImageNeverPull
pass "pull failures: ErrImagePull then ImagePullBackOff, ErrImageNeverPull"

# 6. kubectl exec (also -i and -it under a pseudo-terminal), attach and port-forward: serve
# proxies exec and attach to containerd's streaming server; port-forward dials the host network.
http_port=$(free_port)
pod shell Always "$DEMO" "[\"/bin/sh\", \"-c\", \"mkdir -p /tmp/www && echo served-by-the-container >/tmp/www/index.html && httpd -p $http_port -h /tmp/www && while [ ! -e /tmp/stop ]; do echo tick; sleep 0.3; done; echo bye; sleep 3600\"]" |
  k apply -f - >/dev/null
k wait --for=jsonpath='{.status.phase}'=Running pod/shell --timeout=120s >/dev/null
set +e
out=$(k exec shell -- sh -c 'echo out; echo err >&2; echo nodes $(ls /dev/nvidia[0-9]*); exit 7' 2>"$E2E_TMP/exec.err")
rc=$?
set -e
[[ $rc == 7 && $out =~ ^out$'\n'"nodes /dev/nvidia"[0-7]$ && $(<"$E2E_TMP/exec.err") == err$'\n'* ]] ||
  fail "kubectl exec: rc $rc, stdout $out, stderr $(<"$E2E_TMP/exec.err")"
[[ $(echo piped-input | k exec -i shell -- cat) == piped-input ]] || fail "kubectl exec -i did not pass stdin"
set +e
out=$(script -qec "$KUBECTL_BIN --cache-dir $E2E_TMP/kube-cache exec -it shell -- sh -c 'tty; exit 3'" /dev/null)
rc=$?
set -e
[[ $rc == 3 && $out == *"/dev/pts/"* ]] || fail "kubectl exec -it: rc $rc, $out"
k attach shell >"$E2E_TMP/attach.out" 2>&1 &
attach_pid=$!
attached_tick() { grep -q '^tick' "$E2E_TMP/attach.out"; }
wait_for "kubectl attach to show the container's output" 60 attached_tick
k exec shell -- touch /tmp/stop
attached_bye() { grep -q '^bye' "$E2E_TMP/attach.out"; }
wait_for "kubectl attach to show what the container printed next" 60 attached_bye
kill "$attach_pid"
wait "$attach_pid" 2>/dev/null || true
# attach -i: a container with stdin (stdinOnce) reads what kubectl sends; attach ends with it.
pod reader Never "$DEMO" '["/bin/sh", "-c", "read line; echo got $line"]' |
  sed 's|^    imagePullPolicy:|    stdin: true\n    stdinOnce: true\n    imagePullPolicy:|' | k apply -f - >/dev/null
k wait --for=jsonpath='{.status.phase}'=Running pod/reader --timeout=120s >/dev/null
out=$(echo through-attach | k attach -i reader 2>&1)
[[ $out == *"got through-attach"* ]] || fail "kubectl attach -i: $out"
local_port=$(free_port)
k port-forward pod/shell "$local_port:$http_port" >"$E2E_TMP/forward.out" 2>&1 &
forward_pid=$!
forwarding() { grep -q '^Forwarding from' "$E2E_TMP/forward.out"; }
wait_for "kubectl port-forward to listen" 60 forwarding
page=$(curl -s --max-time 30 "http://127.0.0.1:$local_port/")
kill "$forward_pid"
wait "$forward_pid" 2>/dev/null || true
[[ $page == served-by-the-container ]] || fail "kubectl port-forward: $page"
k delete pod shell --wait=false >/dev/null
pass "kubectl exec (exit code, -i, -it under a pseudo-terminal), attach (also -i) and port-forward reach the container"

# 7. Deletion.
pod sleeper Always "$DEMO" "[\"/bin/sh\", \"-c\", \"trap 'echo got-sigterm; exit 0' TERM; while :; do sleep 0.1; done\"]" |
  k apply -f - >/dev/null
k wait --for=jsonpath='{.status.phase}'=Running pod/sleeper --timeout=120s >/dev/null
k delete pod sleeper >/dev/null
pass "kubectl delete of a running pod returns once it is gone"

# 8. Nothing left.
k delete jobs --all >/dev/null
k delete pods --all >/dev/null
nothing_left() {
  [[ $(cri_objects container) == 0 && $(cri_objects sandbox) == 0 &&
     $(jq '[.gpus[].gis[]] | length' "$DATA_DIR/driver/nvmlsim-state.json") == 0 ]]
}
wait_for "no container, sandbox or partition left" 120 nothing_left
pass "no container, sandbox or MIG partition left"
echo "containerd e2e: all passed"
