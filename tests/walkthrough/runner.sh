#!/usr/bin/env bash
# End-to-end test of the pod runner of `migdra serve` (simulated 8 x A100-80GB), with the real
# kubectl: a pod's command runs with its env, workingDir and the CDI environment of its MIG
# device; `kubectl logs` shows its output (--previous the attempt before, -f until it ends, and
# --tail, --since, --timestamps, --limit-bytes as a kubelet);
# restartPolicy OnFailure restarts a failing container;
# `kubectl delete` sends SIGTERM, then releases the partition; a container without a command stays
# Pending with the reason CommandRequired; env valueFrom.fieldRef and $(VAR) references work, and
# an env source serve cannot provide keeps the pod Pending with CreateContainerConfigError.
# Usage: runner.sh PATH/TO/migdra
source "$(dirname "$0")/../e2e/lib.sh"

start_server
k apply -f "$EXAMPLES/deviceclass.yaml" -f "$EXAMPLES/resourceclaimtemplate.yaml" >/dev/null
work=$E2E_TMP/work
mkdir -p "$work"

pod() {  # pod NAME RESTART_POLICY COMMAND_JSON [extra container fields]
  cat <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: $1
spec:
  restartPolicy: $2
  terminationGracePeriodSeconds: 5
  containers:
  - name: main
    image: busybox
    command: $3
    workingDir: $work
    env:
    - name: GREETING
      value: hello
    - name: POD_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    - name: TAG
      value: \$(POD_NAME)-\$(GREETING)
    resources:
      claims:
      - name: gpu
  resourceClaims:
  - name: gpu
    resourceClaimTemplateName: mig-gpu-1g
EOF
}

phase() { k get pod "$1" -o jsonpath='{.status.phase}'; }
sim_instances() { jq '[.gpus[].gis[]] | length' "$DATA_DIR/driver/nvmlsim-state.json"; }

# 1. env, workingDir, CDI environment and logs.
pod env-pod Never '["/bin/sh", "-c", "echo greeting=$GREETING tag=$TAG arg=$(GREETING) dir=$(pwd) device=$NVIDIA_VISIBLE_DEVICES cuda=$CUDA_VISIBLE_DEVICES"]' | k apply -f - >/dev/null
k wait --for=jsonpath='{.status.phase}'=Succeeded pod/env-pod --timeout=60s >/dev/null
log=$(k logs env-pod)
[[ $log == *"greeting=hello tag=env-pod-hello arg=hello dir=$work device=MIG-"* ]] || fail "env-pod log: $log"
device=$(sed -n 's/.*device=\(MIG-[^ ]*\).*/\1/p' <<<"$log")
[[ $log == *"cuda=$device"* ]] || fail "CUDA_VISIBLE_DEVICES differs from NVIDIA_VISIBLE_DEVICES: $log"
[[ $(k get pod env-pod -o jsonpath='{.status.containerStatuses[0].state.terminated.exitCode}') == 0 ]] ||
  fail "env-pod exit code"
pass "command runs with env, workingDir and the MIG device's CDI environment; kubectl logs shows it"

# 2. restartPolicy OnFailure: fails twice, then succeeds.
pod flaky OnFailure '["/bin/sh", "-c", "n=$(cat count 2>/dev/null || echo 0); echo $((n+1)) > count; echo attempt $((n+1)); [ $n -ge 2 ]"]' |
  sed "s|workingDir: $work|workingDir: $work/flaky|" | k apply -f - >/dev/null
mkdir -p "$work/flaky"
k wait --for=jsonpath='{.status.phase}'=Succeeded pod/flaky --timeout=60s >/dev/null
restarts=$(k get pod flaky -o jsonpath='{.status.containerStatuses[0].restartCount}')
[[ $restarts == 2 ]] || fail "flaky restarted $restarts times, want 2"
[[ $(k logs flaky) == "attempt 3" ]] || fail "kubectl logs flaky: $(k logs flaky)"
[[ $(k logs --previous flaky) == "attempt 2" ]] || fail "kubectl logs --previous flaky: $(k logs --previous flaky)"
k get pod flaky -o json | jq -e '.status.containerStatuses[0].lastState.terminated.exitCode == 1' >/dev/null ||
  fail "flaky lastState: $(k get pod flaky -o jsonpath='{.status.containerStatuses[0].lastState}')"
pass "restartPolicy OnFailure restarts a failing container (2 restarts, then Succeeded); logs and --previous show the last two attempts, lastState the one before"

# kubectl logs -f follows a running container until it ends.
pod ticker Never '["/bin/sh", "-c", "for i in 1 2 3 4 5; do echo tick $i; sleep 0.4; done"]' | k apply -f - >/dev/null
k wait --for=jsonpath='{.status.phase}'=Running pod/ticker --timeout=60s >/dev/null
followed=$(k logs -f ticker)
[[ $followed == "tick 1"*"tick 5" ]] || fail "kubectl logs -f ticker: $followed"
[[ $(phase ticker) == Succeeded ]] || fail "kubectl logs -f returned before ticker ended: $(phase ticker)"
pass "kubectl logs -f follows a running container to its end"

# kubectl logs --tail, --since, --since-time, --timestamps, --limit-bytes (the runtime records each
# line's time), alone, together, with -f and with --previous; invalid values as the API server.
pod lines Never '["/bin/sh", "-c", "echo one; echo two >&2; sleep 5; echo three; printf four"]' | k apply -f - >/dev/null
wait_for "lines logged three" 60 bash -c "$KUBECTL_BIN logs lines 2>/dev/null | grep -q three"
since=$(k logs --since=3s lines)
[[ $since == $'three\nfour' ]] || fail "kubectl logs --since=3s: $since"
k wait --for=jsonpath='{.status.phase}'=Succeeded pod/lines --timeout=60s >/dev/null
[[ $(k logs lines) == $'one\ntwo\nthree\nfour' ]] || fail "kubectl logs lines: $(k logs lines)"
[[ $(k logs --tail=2 lines) == $'three\nfour' ]] || fail "kubectl logs --tail=2: $(k logs --tail=2 lines)"
[[ $(k logs --limit-bytes=6 lines) == $'one\ntw' ]] || fail "kubectl logs --limit-bytes=6: $(k logs --limit-bytes=6 lines)"
stamped=$(k logs --timestamps lines)
stamp='20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]\.[0-9]{9}Z'
stamped_lines="^$stamp one"$'\n'"$stamp two"$'\n'"($stamp) three"$'\n'"$stamp four\$"
[[ $stamped =~ $stamped_lines ]] ||
  fail "kubectl logs --timestamps: $stamped"
three_at=${BASH_REMATCH[1]}
[[ $(k logs --since-time="${three_at%.*}Z" lines) == $'three\nfour' ]] ||
  fail "kubectl logs --since-time=${three_at%.*}Z: $(k logs --since-time="${three_at%.*}Z" lines)"
last=${stamped##*$'\n'}
[[ $(k logs --tail=1 --timestamps --limit-bytes=33 lines) == "${last:0:33}" ]] ||
  fail "kubectl logs --tail=1 --timestamps --limit-bytes=33: $(k logs --tail=1 --timestamps --limit-bytes=33 lines)"
[[ $(k logs --previous --tail=1 flaky) == "attempt 2" ]] || fail "kubectl logs --previous --tail=1 flaky: $(k logs --previous --tail=1 flaky)"
pod tailed Never '["/bin/sh", "-c", "echo a; echo b; sleep 3; echo c"]' | k apply -f - >/dev/null
wait_for "tailed logged b" 60 bash -c "$KUBECTL_BIN logs tailed 2>/dev/null | grep -q b"
followed=$(k logs -f --tail=1 tailed)
[[ $followed == $'b\nc' ]] || fail "kubectl logs -f --tail=1: $followed"
invalid=$(k get --raw '/api/v1/namespaces/default/pods/lines/log?tailLines=-1' 2>&1) &&
  fail "tailLines=-1 answered: $invalid"
[[ $invalid == *'The PodLogOptions "lines" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0'* ]] ||
  fail "tailLines=-1: $invalid"
invalid=$(k get --raw '/api/v1/namespaces/default/pods/lines/log?sinceSeconds=5&sinceTime=2026-12-06T05:00:00Z' 2>&1) &&
  fail "sinceSeconds and sinceTime answered: $invalid"
[[ $invalid == *'at most one of `sinceTime` or `sinceSeconds` may be specified'* ]] || fail "sinceSeconds and sinceTime: $invalid"
invalid=$(k get --raw '/api/v1/namespaces/default/pods/lines/log?limitBytes=many' 2>&1) && fail "limitBytes=many answered: $invalid"
[[ $invalid == *'strconv.ParseInt: parsing "many": invalid syntax'* ]] || fail "limitBytes=many: $invalid"
pass "kubectl logs --tail, --since, --since-time, --timestamps, --limit-bytes, together, with -f and --previous; invalid options answered as the API server"

# 3. restartPolicy Never: a failing container fails the pod.
pod failing Never '["/bin/sh", "-c", "exit 3"]' | k apply -f - >/dev/null
k wait --for=jsonpath='{.status.phase}'=Failed pod/failing --timeout=60s >/dev/null
[[ $(k get pod failing -o jsonpath='{.status.containerStatuses[0].state.terminated.exitCode}') == 3 ]] ||
  fail "failing exit code"
pass "restartPolicy Never: exit code 3 fails the pod"

# 4. Deletion: SIGTERM reaches the process, the pod goes away, its partition is destroyed.
pod sleeper Always "[\"/bin/sh\", \"-c\", \"trap 'echo got-sigterm > $work/sigterm; exit 0' TERM; while true; do sleep 0.2; done\"]" |
  k apply -f - >/dev/null
k wait --for=jsonpath='{.status.phase}'=Running pod/sleeper --timeout=60s >/dev/null
before=$(sim_instances)
((before >= 1)) || fail "no MIG instance exists while sleeper runs"
k delete pod sleeper >/dev/null  # returns once the pod is gone
[[ -f $work/sigterm ]] || fail "the container did not get SIGTERM"
wait_for "sleeper's partition to be destroyed" 30 bash -c "[[ \$(jq '[.gpus[].gis[]] | length' $DATA_DIR/driver/nvmlsim-state.json) == 0 ]]"
pass "kubectl delete: SIGTERM delivered, pod gone, MIG partition destroyed"

# 5. No command: Pending with the reason, and deletable.
pod no-command Always 'null' | sed '/command: null/d' | k apply -f - >/dev/null
k wait --for=jsonpath='{.status.containerStatuses[0].state.waiting.reason}'=CommandRequired pod/no-command \
  --timeout=30s >/dev/null
[[ $(phase no-command) == Pending ]] || fail "no-command phase $(phase no-command)"
msg=$(k get pod no-command -o jsonpath='{.status.containerStatuses[0].state.waiting.message}')
[[ $msg == *"runs commands, not container images"* ]] || fail "no-command message: $msg"
k delete pod no-command >/dev/null
pass "a container without command stays Pending with reason CommandRequired and a clear message"

# 6. An env source serve cannot provide: Pending with CreateContainerConfigError naming it.
pod secret-env Never '["true"]' | sed 's/^      value: hello$/      valueFrom: {resourceFieldRef: {resource: limits.cpu}}/' | k apply -f - >/dev/null
k wait --for=jsonpath='{.status.containerStatuses[0].state.waiting.reason}'=CreateContainerConfigError \
  pod/secret-env --timeout=30s >/dev/null
msg=$(k get pod secret-env -o jsonpath='{.status.containerStatuses[0].state.waiting.message}')
[[ $msg == *"env[0] (GREETING): valueFrom.resourceFieldRef is not supported"* ]] || fail "secret-env message: $msg"
k delete pod secret-env >/dev/null
pass "an env source serve cannot provide keeps the pod Pending with CreateContainerConfigError"
# 7. serve started with a library path of its own (a relocated install): its shim loads with it,
# and each container gets the LD_LIBRARY_PATH of its own spec, or none.
stop_server
LD_LIBRARY_PATH=/opt/migdra-serve-libs start_server
pod own-path Never '["/bin/sh", "-c", "echo path=${LD_LIBRARY_PATH-unset}"]' |
  sed 's|^    env:$|    env:\n    - name: LD_LIBRARY_PATH\n      value: /pod/libs|' | k apply -f - >/dev/null
pod no-path Never '["/bin/sh", "-c", "echo path=${LD_LIBRARY_PATH-unset}"]' | k apply -f - >/dev/null
k wait --for=jsonpath='{.status.phase}'=Succeeded pod/own-path pod/no-path --timeout=60s >/dev/null
[[ $(k logs own-path) == path=/pod/libs ]] || fail "own-path: $(k logs own-path)"
[[ $(k logs no-path) == path=unset ]] || fail "no-path: $(k logs no-path)"
pass "a container gets its own LD_LIBRARY_PATH (or none), not the one serve runs with"
echo "runner e2e: all passed"
