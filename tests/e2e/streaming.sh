#!/usr/bin/env bash
# kubectl exec (non-interactive, with stdin, and -it under a pseudo-terminal), kubectl attach and
# kubectl port-forward (WebSocket-tunnelled SPDY, kubectl's default, and plain SPDY, its
# fallback) against `migdra serve`, whose pods run as host processes.
source "$(dirname "$0")/lib.sh"

start_server
WORK=$E2E_TMP/work
mkdir -p "$WORK"
HTTP_PORT=$(free_port)
ECHO_PORT=$(free_port)
echo hello-through-the-forward >"$WORK/hello.txt"
head -c 300000 /dev/urandom >"$WORK/big.bin"

k apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: shell}
spec:
  containers:
  - name: main
    image: busybox
    workingDir: $WORK
    command: ["sh", "-c", "cat /proc/self/cgroup > cgroup-of-container; exec sleep 600"]
    env: [{name: GREETING, value: hello-from-env}]
  - name: side
    image: busybox
    command: ["sleep", "600"]
---
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - name: http
    image: python
    workingDir: $WORK
    command: ["python3", "-m", "http.server", "$HTTP_PORT", "--bind", "127.0.0.1"]
  - name: echo
    image: python
    command:
    - python3
    - -c
    - |
      import socket, threading
      server = socket.create_server(("127.0.0.1", $ECHO_PORT))
      def serve(c):
          with c:
              while data := c.recv(65536):
                  c.sendall(data)
      while True:
          threading.Thread(target=serve, args=(server.accept()[0],), daemon=True).start()
YAML
wait_for "pods running" 60 bash -c "[[ \$(timeout 20 $KUBECTL_BIN get pods shell web -o jsonpath='{.items[*].status.phase}') == 'Running Running' ]]"
wait_for "the container wrote its cgroup" 30 test -s "$WORK/cgroup-of-container"

# --- exec, non-interactive: stdout and stderr apart, the exit code is kubectl's -----------------
set +e
k exec shell -c main -- sh -c 'echo "$GREETING"; pwd; echo to-stderr >&2; exit 3' >"$E2E_TMP/out" 2>"$E2E_TMP/err"
rc=$?
set -e
[[ $rc == 3 ]] || fail "exec exit code $rc, want 3"
[[ $(cat "$E2E_TMP/out") == $'hello-from-env\n'"$WORK" ]] || fail "exec stdout: $(cat "$E2E_TMP/out")"
grep -q '^to-stderr$' "$E2E_TMP/err" || fail "exec stderr: $(cat "$E2E_TMP/err")"
grep -q 'command terminated with exit code 3' "$E2E_TMP/err" || fail "exec stderr: $(cat "$E2E_TMP/err")"
pass "exec: env and workingDir of the container, stdout/stderr apart, exit code 3 propagated"
if grep -q migdra-pods- "$WORK/cgroup-of-container"; then
  [[ $(k exec shell -c main -- cat /proc/self/cgroup) == $(cat "$WORK/cgroup-of-container") ]] ||
    fail "the exec'd command is not in the container's cgroup"
  pass "exec runs in the container's cgroup"
fi
[[ $(printf 'line-one\nline-two\n' | k exec -i shell -c main -- sh -c 'cat; echo after-eof') == \
   $'line-one\nline-two\nafter-eof' ]] || fail "exec -i: stdin not relayed or never ended"
pass "exec -i: stdin relayed, its end reaches the command"
set +e
k exec shell -c main -- no-such-command >"$E2E_TMP/out" 2>"$E2E_TMP/err"
rc=$?
set -e
[[ $rc != 0 ]] && grep -q 'executable file not found in \$PATH' "$E2E_TMP/err" ||
  fail "exec of a missing command: rc $rc, $(cat "$E2E_TMP/err")"
pass "exec of a missing command: kubectl prints why"

set +e
k exec shell -c main -- sh -c 'exec >&- 2>&-; sleep 1; exit 4'
rc=$?
set -e
[[ $rc == 4 ]] || fail "exec that closed its output early: exit code $rc, want 4"
"$KUBECTL_BIN" exec shell -c main -- sh -c "echo \$\$ > $WORK/long.pid; exec sleep 600" &
EXEC=$!
wait_for "the long exec to start" 30 test -s "$WORK/long.pid"
kill "$EXEC"
wait "$EXEC" 2>/dev/null || true
wait_for "the exec'd command to end with its client" 30 bash -c "! kill -0 \$(cat $WORK/long.pid) 2>/dev/null"
pass "exec: the exit code after the output closed early; a command ends when its client goes"

# --- exec -it under a pseudo-terminal: a shell, the window size, the exit code -----------------
python3 - "$KUBECTL_BIN" <<'PY' || fail "exec -it"
import os, pty, select, struct, sys, fcntl, termios, time
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], [sys.argv[1], "exec", "-it", "shell", "-c", "main", "--", "sh"])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 37, 101, 0, 0))
out = b""
def read_until(marker, seconds):
    global out
    end = time.time() + seconds
    while marker not in out and time.time() < end:
        if select.select([fd], [], [], 0.5)[0]:
            try:
                out += os.read(fd, 4096)
            except OSError:
                return
os.write(fd, b"stty size; test -t 0 && echo is-a-terminal; echo mark-$((6*7))\n")
read_until(b"mark-42\r\n", 30)
os.write(fd, b"exit 7\n")
read_until(b"exit code 7", 30)
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
print(out.decode(errors="replace"))
assert b"37 101" in out, "the window size did not reach the terminal"
assert b"is-a-terminal" in out, "stdin is not a terminal"
assert code == 7, f"kubectl exited {code}, want 7"
PY
pass "exec -it: a terminal of the client's size, exit code 7 propagated"

# stdin, stdout, stderr and tty are booleans as the API server's parameter codec reads them: any
# value but "0" or "false" (in any case), the empty one included, is true. A SPDY upgrade (no
# WebSocket) shows which: refused for the protocol when a stream is asked for, else for none.
exec_refusal() {  # exec_refusal QUERY: the message of the answer to a SPDY exec upgrade
  curl -sk --http1.1 --max-time 10 -X POST -H "Authorization: Bearer $TOKEN" \
    -H 'Connection: Upgrade' -H 'Upgrade: SPDY/3.1' \
    "https://127.0.0.1:$PORT/api/v1/namespaces/default/pods/shell/exec?container=main&command=true&$1" |
    jq -r .message
}
for query in stdout=yes 'stderr&stdin=0' stdin=; do
  out=$(exec_refusal "$query")
  [[ $out == 'exec and attach are served over WebSocket'* ]] || fail "exec ?$query: $out"
done
for query in 'stdout=0&stderr=FALSE' 'stdin=false&stdout=False'; do
  out=$(exec_refusal "$query")
  [[ $out == 'you must specify at least 1 of stdin, stdout, stderr' ]] || fail "exec ?$query: $out"
done
pass "exec: ?stdout=yes, ?stderr and ?stdin= ask for the stream, =0 and =false in any case do not"

# --- attach: the container's output from now until it ends ---------------------------------------
k apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: ticker}
spec:
  restartPolicy: Never
  containers:
  - name: tick
    image: busybox
    workingDir: $WORK
    command: ["sh", "-c", "i=0; until test -e stop-ticking; do i=\$((i+1)); echo tick-\$i; sleep 0.2; done; echo done >&2"]
YAML
wait_for "ticker running" 60 bash -c "[[ \$(timeout 20 $KUBECTL_BIN get pod ticker -o jsonpath='{.status.phase}') == Running ]]"
k attach ticker -c tick >"$E2E_TMP/attach" 2>"$E2E_TMP/attach.err" &
ATTACH=$!
wait_for "attached output" 30 grep -q '^tick-' "$E2E_TMP/attach"
touch "$WORK/stop-ticking"
wait "$ATTACH" || fail "attach: $(cat "$E2E_TMP/attach.err")"
grep -q '^done$' "$E2E_TMP/attach" || fail "attach missed the end: $(tail -3 "$E2E_TMP/attach")"
pass "attach: followed the container's output until it ended"
wait_for "ticker completed" 30 bash -c "[[ \$(timeout 20 $KUBECTL_BIN get pod ticker -o jsonpath='{.status.phase}') == Succeeded ]]"
k attach -i shell -c main </dev/null 2>"$E2E_TMP/err" && fail "attach -i to a container without stdin"
grep -q 'set stdin: true in its spec' "$E2E_TMP/err" || fail "attach -i: $(cat "$E2E_TMP/err")"
k apply -f - <<'YAML' >/dev/null
apiVersion: v1
kind: Pod
metadata: {name: reader}
spec:
  containers:
  - {name: r, image: busybox, stdin: true, command: ["sh", "-c", "while read line; do echo \"got:$line\"; done"]}
YAML
wait_for "reader running" 60 bash -c "[[ \$(timeout 20 $KUBECTL_BIN get pod reader -o jsonpath='{.status.phase}') == Running ]]"
mkfifo "$E2E_TMP/attach-in"
"$KUBECTL_BIN" attach -i reader -c r <"$E2E_TMP/attach-in" >"$E2E_TMP/attach-out" 2>&1 &
ATTACH=$!
exec 7>"$E2E_TMP/attach-in"
echo first-line >&7
wait_for "the container to read the attached input" 30 grep -q '^got:first-line$' "$E2E_TMP/attach-out"
echo second-line >&7
wait_for "the second line" 30 grep -q '^got:second-line$' "$E2E_TMP/attach-out"
exec 7>&-
kill "$ATTACH" 2>/dev/null || true
wait "$ATTACH" 2>/dev/null || true
pass "attach -i: input reaches a container with stdin: true, its answers come back"
k exec ticker -- true 2>"$E2E_TMP/err" && fail "exec into a completed pod"
grep -q 'cannot exec into a container in a completed pod; current phase is Succeeded' "$E2E_TMP/err" ||
  fail "exec into a completed pod: $(cat "$E2E_TMP/err")"
pass "attach -i to a container without stdin and exec into a completed pod refused with the reason"

# --- port-forward: kubectl's WebSocket tunnel, then plain SPDY -----------------------------------
FORWARDER=
stop_forwarder() {
  [[ -z "$FORWARDER" ]] || { kill "$FORWARDER" 2>/dev/null || true; wait "$FORWARDER" 2>/dev/null || true; }
  FORWARDER=
}
forward() {  # forward NAME LOCAL:REMOTE...; KUBECTL_PORT_FORWARD_WEBSOCKETS from the caller
  local name=$1
  shift
  "$KUBECTL_BIN" port-forward pod/web "$@" >"$E2E_TMP/$name.out" 2>"$E2E_TMP/$name.err" &
  FORWARDER=$!
  wait_for "port-forward $name listening" 30 grep -q 'Forwarding from 127.0.0.1' "$E2E_TMP/$name.out"
}
check_forward() {  # check_forward LOCAL_HTTP LOCAL_ECHO
  [[ $(curl -s --max-time 10 "http://127.0.0.1:$1/hello.txt") == hello-through-the-forward ]] ||
    fail "GET through the forward"
  curl -s --max-time 20 "http://127.0.0.1:$1/big.bin" | cmp - "$WORK/big.bin" ||
    fail "300 kB through the forward differ"
  python3 - "$2" "$WORK/big.bin" <<'PY' || fail "echo through the forward"
import socket, sys
data = open(sys.argv[2], "rb").read()
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20) as s:
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    back = b""
    while chunk := s.recv(65536):
        back += chunk
assert back == data, f"echoed {len(back)} bytes of {len(data)}"
PY
}
L1=$(free_port) L2=$(free_port)
KUBECTL_PORT_FORWARD_WEBSOCKETS=true forward websocket "$L1:$HTTP_PORT" "$L2:$ECHO_PORT"
check_forward "$L1" "$L2"
stop_forwarder
pass "port-forward over WebSocket: GET, 300 kB down, 300 kB up and back"
L1=$(free_port) L2=$(free_port)
KUBECTL_PORT_FORWARD_WEBSOCKETS=false forward spdy "$L1:$HTTP_PORT" "$L2:$ECHO_PORT"
check_forward "$L1" "$L2"
stop_forwarder
pass "port-forward over SPDY: GET, 300 kB down, 300 kB up and back"
L1=$(free_port) CLOSED=$(free_port)
forward closed "$L1:$CLOSED"
curl -s --max-time 10 "http://127.0.0.1:$L1/" && fail "a forward to a closed port answered"
wait_for "kubectl reports the refused connection" 20 grep -q "error forwarding port $CLOSED" "$E2E_TMP/closed.err"
stop_forwarder
pass "port-forward to a closed port: kubectl prints the pod's refusal"
