#!/usr/bin/env bash
# The pod runner of `migdra serve` across `kill -9` of serve, driven by the real kubectl: a
# running container is adopted (its exit and exit code observed later, its log kept), a finished
# container (init or not) stays finished, restartCount never goes backwards, a container whose
# supervisor died fails with ContainerStatusUnknown instead of running again, a recorded
# identity whose PID now names another process is never signalled; a container's background
# children (`cmd &`, `setsid cmd`, double fork) die with it on completion and on deletion; names
# that would become paths are refused (kubectl apply, pods/log).
# Runs twice: with the cgroup v2 confinement this host offers, then (when unshare can make the
# cgroup mounts read-only) with the subreaper fallback.
# Usage: runner_crash.sh PATH/TO/migdra
source "$(dirname "$0")/lib.sh"
REAL_MIGDRA=$MIGDRA

pod() {  # pod NAME RESTART_POLICY MAIN_SCRIPT [INIT_SCRIPT] [QUICK_SCRIPT]
  cat <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: $1
spec:
  restartPolicy: $2
  terminationGracePeriodSeconds: 2
EOF
  if [[ -n "${4:-}" ]]; then
    cat <<EOF
  initContainers:
  - name: init
    image: busybox
    command: ["/bin/sh", "-c", "$4"]
EOF
  fi
  cat <<EOF
  containers:
  - name: main
    image: busybox
    command: ["/bin/sh", "-c", "$3"]
    resources: {claims: [{name: gpu}]}
EOF
  if [[ -n "${5:-}" ]]; then
    cat <<EOF
  - name: quick
    image: busybox
    command: ["/bin/sh", "-c", "$5"]
EOF
  fi
  cat <<EOF
  resourceClaims:
  - name: gpu
    resourceClaimTemplateName: mig-gpu-1g
EOF
}

field() { k get pod "$1" -o jsonpath="$2"; }
phase_is() { [[ $(field "$1" '{.status.phase}') == "$2" ]]; }
main_state() { field "$1" '{.status.containerStatuses[?(@.name=="main")].state}'; }
main_running() { [[ $(main_state "$1") == *running* ]]; }
dead() { ! kill -0 "$1" 2>/dev/null; }
lines() { wc -l <"$1"; }
crash_server() {
  kill -9 "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

suite() {  # suite MODE: the whole scenario on a fresh server and data dir
  local mode=$1
  local w=$E2E_TMP/work-$mode
  mkdir -p "$w"
  DATA_DIR=$E2E_TMP/data-$mode
  SERVER_LOG=$E2E_TMP/serve-$mode.log
  PORT=
  start_server
  grep -q "confining pods with $2" "$SERVER_LOG" || fail "$mode: confinement: $(grep confining "$SERVER_LOG")"
  k apply -f "$EXAMPLES/deviceclass.yaml" -f "$EXAMPLES/resourceclaimtemplate.yaml" >/dev/null

  # Before the crash: an init container and a quick container have finished, main is running.
  pod adopt Never "echo main-ran >> $w/main; echo before; echo \$\$\$\$ > $w/main.pid; while [ ! -e $w/go ]; do sleep 0.1; done; echo after; exit 7" \
    "echo init-ran >> $w/init" "echo quick-ran >> $w/quick" | k apply -f - >/dev/null
  # OnFailure: two failed attempts, then one that runs until told to finish.
  pod counted OnFailure "n=\$(cat $w/count 2>/dev/null || echo 0); echo \$((n+1)) > $w/count; [ \$n -ge 2 ] || exit 1; while [ ! -e $w/go ]; do sleep 0.1; done" |
    k apply -f - >/dev/null
  # Its supervisor will be killed while serve is down.
  pod lost Never "echo \$\$\$\$ > $w/lost.pid; exec sleep 300" | k apply -f - >/dev/null
  # Its recorded supervisor PID will name another process (PID reuse).
  pod reused Never "echo \$\$\$\$ > $w/reused.pid; exec sleep 300" | k apply -f - >/dev/null
  wait_for "adopt's quick container to finish" 60 bash -c "[[ \$($KUBECTL_BIN get pod adopt -o jsonpath='{.status.containerStatuses[?(@.name==\"quick\")].state.terminated.exitCode}') == 0 ]]"
  wait_for "adopt's main to run" 60 test -s "$w/main.pid"
  wait_for "counted to run its third attempt" 60 bash -c "[[ \$(cat $w/count 2>/dev/null) == 3 ]]"
  wait_for "counted's restartCount 2 to be reported" 30 bash -c "[[ \$($KUBECTL_BIN get pod counted -o jsonpath='{.status.containerStatuses[0].restartCount}') == 2 ]]"
  wait_for "lost to run" 60 test -s "$w/lost.pid"
  wait_for "reused to run" 60 test -s "$w/reused.pid"
  local adopt_id
  adopt_id=$(field adopt '{.status.containerStatuses[?(@.name=="main")].containerID}')
  [[ $adopt_id == migdra://* ]] || fail "$mode: adopt's containerID: $adopt_id"

  crash_server
  local lost_pid lost_shim reused_record decoy
  lost_pid=$(cat "$w/lost.pid")
  lost_shim=$(ps -o ppid= -p "$lost_pid" | tr -d ' ')
  kill -9 "$lost_shim"
  reused_record=$(grep -l " $(ps -o ppid= -p "$(cat "$w/reused.pid")" | tr -d ' ') " "$DATA_DIR"/runner/pods/*/main/0/shim || true)
  [[ -f $reused_record ]] || fail "$mode: no supervisor record for reused"
  sleep 300 &
  decoy=$!
  sed -i "s/^\([^ ]*\) [0-9]* /\1 $decoy /" "$reused_record"
  start_server

  # adopt: not run again, its exit observed with its code, its log kept whole.
  wait_for "adopt's main to be adopted" 30 main_running adopt
  [[ $(field adopt '{.status.containerStatuses[?(@.name=="main")].containerID}') == "$adopt_id" ]] ||
    fail "$mode: adopt's main was not adopted: $(main_state adopt)"
  # A graceful stop leaves it running too; the next start adopts it again.
  stop_server
  kill -0 "$(cat "$w/main.pid")" 2>/dev/null || fail "$mode: stopping serve stopped adopt's main"
  start_server
  wait_for "adopt's main to be adopted after a stop" 30 main_running adopt
  touch "$w/go"
  wait_for "adopt to fail with exit code 7" 60 phase_is adopt Failed
  [[ $(field adopt '{.status.containerStatuses[?(@.name=="main")].state.terminated.exitCode}') == 7 ]] ||
    fail "$mode: adopt's exit code: $(main_state adopt)"
  [[ $(field adopt '{.status.containerStatuses[?(@.name=="main")].restartCount}') == 0 ]] || fail "$mode: adopt restarted"
  [[ $(lines "$w/main") == 1 && $(lines "$w/init") == 1 && $(lines "$w/quick") == 1 ]] ||
    fail "$mode: a container ran again: main $(lines "$w/main"), init $(lines "$w/init"), quick $(lines "$w/quick")"
  [[ $(k logs adopt -c main) == $'before\nafter' ]] || fail "$mode: adopt's log: $(k logs adopt -c main)"
  pass "$mode: kill -9 and stop of serve: running container adopted (exit code 7 observed, log kept), finished ones not re-run"

  wait_for "counted to succeed" 60 phase_is counted Succeeded
  [[ $(field counted '{.status.containerStatuses[0].restartCount}') == 2 && $(cat "$w/count") == 3 ]] ||
    fail "$mode: counted: restartCount $(field counted '{.status.containerStatuses[0].restartCount}'), ran $(cat "$w/count") times"
  pass "$mode: kill -9 of serve: restartCount 2 kept, the running attempt finished"

  wait_for "lost to fail" 60 phase_is lost Failed
  [[ $(field lost '{.status.containerStatuses[0].state.terminated.reason}') == ContainerStatusUnknown &&
     $(field lost '{.status.containerStatuses[0].state.terminated.exitCode}') == 137 ]] ||
    fail "$mode: lost: $(field lost '{.status.containerStatuses[0].state}')"
  if [[ $mode == cgroup ]]; then
    wait_for "lost's orphaned container to be killed" 10 dead "$lost_pid"
  else
    kill -9 "$lost_pid"  # documented: without cgroups the orphan of a killed supervisor stays
  fi
  pass "$mode: a container whose supervisor died fails with ContainerStatusUnknown, not re-run"

  wait_for "reused to fail" 60 phase_is reused Failed
  [[ $(field reused '{.status.containerStatuses[0].state.terminated.reason}') == ContainerStatusUnknown ]] ||
    fail "$mode: reused: $(field reused '{.status.containerStatuses[0].state}')"
  k delete pod reused --timeout=60s >/dev/null || fail "$mode: kubectl delete pod reused"
  kill -0 "$decoy" 2>/dev/null || fail "$mode: the process that reused a recorded PID was killed"
  kill "$decoy"
  kill -9 "$(cat "$w/reused.pid")" 2>/dev/null || true
  pass "$mode: a recorded PID that names another process (start time differs) is never signalled"

  # Background children die with the container: on completion ...
  pod bg Never "sleep 300 & echo \$! > $w/bg1; setsid sleep 300 & echo \$! > $w/bg2; sh -c 'sleep 300 & echo \$! > $w/bg3' & sleep 0.5" |
    k apply -f - >/dev/null
  wait_for "bg to succeed" 60 phase_is bg Succeeded
  for f in bg1 bg2 bg3; do dead "$(cat "$w/$f")" || fail "$mode: background child $f survived the pod's completion"; done
  # ... and on deletion.
  pod bgdel Always "sleep 300 & echo \$! > $w/del1; setsid sleep 300 & echo \$! > $w/del2; wait" |
    k apply -f - >/dev/null
  wait_for "bgdel's children to start" 60 test -s "$w/del2"
  k delete pod bgdel --timeout=60s >/dev/null || fail "$mode: kubectl delete pod bgdel"
  for f in del1 del2; do dead "$(cat "$w/$f")" || fail "$mode: background child $f survived the pod's deletion"; done
  pass "$mode: background children (cmd &, setsid cmd, double fork) die on completion and deletion"

  k delete pods --all --timeout=60s >/dev/null || fail "$mode: kubectl delete pods --all"
  stop_server
}

suite cgroup "cgroup v2"

# The fallback: the same with the cgroup mounts read-only in serve's own mount namespace.
if unshare --mount --propagation private true 2>/dev/null; then
  cat >"$E2E_TMP/migdra-no-cgroup" <<EOF
#!/bin/sh
exec unshare --mount --propagation private sh -c 'for m in /sys/fs/cgroup/unified /sys/fs/cgroup; do mountpoint -q \$m && mount -o remount,bind,ro \$m; done; exec "\$0" "\$@"' "$REAL_MIGDRA" "\$@"
EOF
  chmod +x "$E2E_TMP/migdra-no-cgroup"
  MIGDRA=$E2E_TMP/migdra-no-cgroup
  suite subreaper "subreaper"
  MIGDRA=$REAL_MIGDRA
else
  echo "note: unshare --mount is not permitted here; the subreaper fallback is not exercised"
fi

# Names that become paths are refused where they enter.
DATA_DIR=$E2E_TMP/data-names
SERVER_LOG=$E2E_TMP/serve-names.log
PORT=
start_server
out=$(pod evil Never "true" "true" | sed 's/- name: init/- name: ..\/..\/evil/' | k apply -f - 2>&1) &&
  fail "a pod with initContainers[0].name ../../evil was accepted"
[[ $out == *'spec.initContainers[0].name: Invalid value: "../../evil"'* ]] || fail "kubectl apply of ../../evil: $out"
out=$(pod evil Never "true" | sed 's/^  containers:/  ephemeralContainers: [{name: main, image: busybox}]\n  containers:/' | k apply -f - 2>&1) &&
  fail "a pod with an ephemeral container named like a container was accepted"
[[ $out == *'spec.ephemeralContainers[0].name: Duplicate value: "main"'* ]] || fail "kubectl apply of a duplicate ephemeral container: $out"
pod named Never "true" | sed '/resources:/d; /resourceClaims:/,$d' | k apply -f - >/dev/null
wait_for "named to succeed" 60 phase_is named Succeeded
r=$(api GET "/api/v1/namespaces/default/pods/named/log?container=../../../../../runner/pods/x/main/log")
[[ $(tail -n1 <<<"$r") == 400 ]] || fail "log path traversal: $r"
jq -e '.message == "container ../../../../../runner/pods/x/main/log is not valid for pod named"' <<<"$(sed '$d' <<<"$r")" >/dev/null ||
  fail "log path traversal message: $r"
pass "names that become paths: ../../evil and duplicates refused by kubectl apply, pods/log?container=../.. refused (400)"
echo "runner crash: all passed"
