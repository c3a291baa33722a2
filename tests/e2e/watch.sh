#!/usr/bin/env bash
# Watches through the real kubectl with its defaults (client-go always asks for gzip):
# `kubectl get pods -w` prints a pod created while it runs, `kubectl delete pod` returns once the
# pod is gone (it waits by default), `kubectl wait --for=delete` returns when it is. Watch
# responses are never compressed.
source "$(dirname "$0")/lib.sh"
start_server
kubectl_bg() { timeout 60 "$KUBECTL_BIN" --cache-dir "$E2E_TMP/kube-cache" "$@"; }

pod() {
  cat <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: $1
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: ["sleep", "600"]
YAML
}
pod first | k apply -f - >/dev/null

exec 3< <(kubectl_bg get pods -w -o name)
watch_pid=$!
read -r -t 30 -u 3 line && [[ $line == pod/first ]] || fail "kubectl get -w did not list pod/first: $line"
pod second | k apply -f - >/dev/null
until [[ ${line:-} == pod/second ]]; do
  read -r -t 30 -u 3 line || fail "kubectl get pods -w showed no pod/second within 30 s"
done
kill "$watch_pid" 2>/dev/null || true
exec 3<&-
pass "kubectl get pods -w shows a pod created while it runs"

# kubectl wait --for=delete, started (and watching: -v=6 logs its watch request) before the delete.
mkfifo "$E2E_TMP/wait.log"
kubectl_bg -v=6 wait --for=delete pod/second --timeout=50s >"$E2E_TMP/wait.out" 2>"$E2E_TMP/wait.log" &
wait_pid=$!
exec 4<"$E2E_TMP/wait.log"
until [[ ${line:-} == *watch=true* ]]; do
  read -r -t 30 -u 4 line || fail "kubectl wait did not start watching"
done
cat <&4 >/dev/null &
out=$(kubectl_bg delete pod second) || fail "kubectl delete pod (which waits by default) did not return: $out"
[[ $out == 'pod "second" deleted' ]] || fail "kubectl delete: $out"
out=$(k get pod second 2>&1) && fail "kubectl delete returned before the pod was gone: $out"
grep -q 'NotFound' <<<"$out" || fail "kubectl get pod second: $out"
pass "kubectl delete pod waits (by default) until the pod is gone"
wait "$wait_pid" || fail "kubectl wait --for=delete: $(cat "$E2E_TMP/wait.out")"
grep -q 'pod/second condition met' "$E2E_TMP/wait.out" || fail "kubectl wait: $(cat "$E2E_TMP/wait.out")"
pass "kubectl wait --for=delete returns when the pod is deleted"

head=$(curl -sk --max-time 10 --compressed -D - -o /dev/null -H "Authorization: Bearer $TOKEN" \
  "https://127.0.0.1:$PORT/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=1")
grep -qi '^transfer-encoding: chunked' <<<"$head" || fail "watch is not chunked: $head"
grep -qi '^content-encoding' <<<"$head" && fail "watch response is compressed: $head"
pass "watch responses are chunked and never compressed"

# ?watch is a boolean as the API server's parameter codec reads it (Convert_Slice_string_To_bool):
# any value but "0" or "false" (in any case), the empty one of `?watch` included, watches.
api() { curl -sk --max-time 10 -H "Authorization: Bearer $TOKEN" "$@"; }
pods_answer() {  # pods_answer QUERY: the kind of the answer, or each streamed event's type
  api "https://127.0.0.1:$PORT/api/v1/namespaces/default/pods?$1&timeoutSeconds=1" | jq -r '.type // .kind'
}
for query in watch=yes watch watch= watch=True; do
  out=$(pods_answer "$query")
  [[ ${out%%$'\n'*} == ADDED ]] || fail "?$query did not stream the watch event of pod/first: $out"
done
for query in watch=0 watch=FALSE; do
  out=$(pods_answer "$query")
  [[ $out == PodList ]] || fail "?$query did not list: $out"
done
pass "?watch=yes, ?watch and ?watch= watch; ?watch=0 and ?watch=FALSE list"

# The request metrics read ?watch as the handler does, and for a GET only, as the API server's.
api -o /dev/null -X POST -H 'Content-Type: application/json' -d '{"metadata": {"name": "c"}}' \
  "https://127.0.0.1:$PORT/api/v1/namespaces/default/configmaps?watch=1"
api -o /dev/null "https://127.0.0.1:$PORT/api/v1/namespaces/default/configmaps/c?watch=yes"
m=$(api "https://127.0.0.1:$PORT/metrics")
grep -q '^apiserver_request_total{verb="WATCH",resource="configmaps",code="200"} 1$' <<<"$m" ||
  fail "a GET with ?watch=yes is not counted as a WATCH: $(grep '^apiserver_request_total' <<<"$m")"
grep -q '^apiserver_request_total{verb="POST",resource="configmaps",code="201"} 1$' <<<"$m" ||
  fail "a POST with ?watch=1 is not counted as a POST: $(grep '^apiserver_request_total' <<<"$m")"
pass "request metrics: a GET with ?watch=yes is a WATCH, a POST with ?watch=1 a POST"
echo "watch: all checks passed"
