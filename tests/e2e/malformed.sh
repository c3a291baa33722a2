#!/usr/bin/env bash
# Malformed objects never take `migdra serve` down. Through curl and kubectl: fields of the wrong
# JSON type (the crash-loop reproductions: a pod with `metadata.finalizers: "x"`, a Job whose
# spec or status holds a string where a number goes) are refused with the API server's 400 decode
# error on create, update and the status subresource, and with its patch handler's 422 about field
# "patch" on patch; the server keeps serving and other
# pods run. Then objects that admission would refuse are put straight into state.db (as an older
# version or a damaged disk leaves them): serve starts, names each undecodable row and counts
# them, reports the objects its workers cannot handle as FailedSync Events, and still runs pods.
source "$(dirname "$0")/lib.sh"
start_server
pods=/api/v1/namespaces/default/pods
jobs=/apis/batch/v1/namespaces/default/jobs
status_of() { tail -n1 <<<"$1"; }
body_of() { sed '$d' <<<"$1"; }
# expect_decode_error RESPONSE MESSAGE: a 400 BadRequest Status with exactly MESSAGE.
expect_decode_error() {
  [[ $(status_of "$1") == 400 ]] || fail "expected 400, got $(status_of "$1"): $(body_of "$1")"
  body_of "$1" | jq -e --arg m "$2" '.kind == "Status" and .reason == "BadRequest" and .message == $m' \
    >/dev/null || fail "expected \"$2\", got $(body_of "$1")"
}

pod='{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bad"},
      "spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox","command":["true"]}]}}'
r=$(api POST "$pods" -H 'Content-Type: application/json' -d "$(jq -c '.metadata.finalizers = "x"' <<<"$pod")")
expect_decode_error "$r" 'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal string into Go struct field ObjectMeta.metadata.finalizers of type []string'
r=$(api POST "$pods" -H 'Content-Type: application/json' -d "$(jq -c '.metadata.labels = {"a": 1}' <<<"$pod")")
expect_decode_error "$r" 'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string'
r=$(api POST "$pods" -H 'Content-Type: application/json' -d "$(jq -c '.spec.containers[0].command = "true"' <<<"$pod")")
expect_decode_error "$r" 'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal string into Go struct field Container.spec.containers.command of type []string'
cat >"$E2E_TMP/bad-pod.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: bad
  finalizers: x
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command: ["true"]
YAML
out=$(k apply -f "$E2E_TMP/bad-pod.yaml" 2>&1) && fail "kubectl apply of finalizers: x succeeded"
grep -qF 'cannot unmarshal string into Go struct field ObjectMeta.metadata.finalizers of type []string' <<<"$out" ||
  fail "kubectl shows no decode error: $out"
pass "wrong types in metadata and spec: 400 with the decoder's message (curl and kubectl)"

job='{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"held"},
      "spec":{"suspend":true,"completions":"2","template":{"spec":{"restartPolicy":"Never",
      "containers":[{"name":"c","image":"busybox","command":["true"]}]}}}}'
r=$(api POST "$jobs" -H 'Content-Type: application/json' -d "$job")
expect_decode_error "$r" 'Job in version "v1" cannot be handled as a Job: json: cannot unmarshal string into Go struct field JobSpec.spec.completions of type int32'
r=$(api POST "$jobs" -H 'Content-Type: application/json' -d "$(jq -c '.spec.completions = 2' <<<"$job")")
[[ $(status_of "$r") == 201 ]] || fail "creating a suspended job: $(body_of "$r")"
stored=$(body_of "$r")
r=$(api PUT "$jobs/held/status" -H 'Content-Type: application/json' -d "$(jq -c '.status.active = "1"' <<<"$stored")")
expect_decode_error "$r" 'Job in version "v1" cannot be handled as a Job: json: cannot unmarshal string into Go struct field JobStatus.status.active of type int32'
r=$(api PUT "$jobs/held/status" -H 'Content-Type: application/json' -d "$(jq -c '.status.conditions = [{"type": 5}]' <<<"$stored")")
expect_decode_error "$r" 'Job in version "v1" cannot be handled as a Job: json: cannot unmarshal number into Go struct field JobCondition.status.conditions.type of type v1.JobConditionType'
# A patch is refused by the patch handler instead: 422 about field "patch", quoting the patched
# object, with the decoder's error alone.
r=$(api PATCH "$jobs/held" -H 'Content-Type: application/merge-patch+json' -d '{"metadata":{"finalizers":"x"}}')
[[ $(status_of "$r") == 422 ]] || fail "expected 422 for a merge patch to a wrong type, got $(status_of "$r"): $(body_of "$r")"
body_of "$r" | jq -e --arg e '": json: cannot unmarshal string into Go struct field ObjectMeta.metadata.finalizers of type []string' '
  .reason == "Invalid" and .details.causes[0].field == "patch" and .details.causes[0].reason == "FieldValueInvalid" and
  (.message | startswith(" \"\" is invalid: patch: Invalid value: \"{")) and (.message | endswith($e)) and
  .message == " \"\" is invalid: patch: " + .details.causes[0].message' >/dev/null ||
  fail "merge patch to a wrong type: $(body_of "$r")"
out=$(k patch job held --type merge -p '{"spec":{"parallelism":1.5}}' 2>&1) && fail "kubectl patch parallelism 1.5 succeeded"
grep -qF 'cannot unmarshal number 1.5 into Go struct field JobSpec.spec.parallelism of type int32' <<<"$out" ||
  fail "kubectl patch shows no decode error: $out"
pass "wrong types in Job spec and status: 400 (create, status subresource), 422 Invalid about field patch (patch)"

# serve and `migdra validate` agree on the metadata limits: each corpus case is refused by kubectl
# apply with the error line it announces for validate.
corpus=${MIGDRA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/invalid
for case in pod-label-name-too-long pod-label-prefix-too-long pod-label-value-too-long \
  job-template-label-key-invalid pod-annotation-key-invalid pod-finalizer-not-qualified; do
  want=$(sed -n 's/^# expect: [A-Za-z]*\/[a-z]*: //p' "$corpus/$case.yaml")
  out=$(k apply -f "$corpus/$case.yaml" 2>&1) && fail "$case: kubectl apply succeeded"
  grep -qF "is invalid: $want" <<<"$out" || fail "$case: want \"$want\", got: $out"
done
head -c $((256 * 1024 - 4 + 1)) /dev/zero | tr '\0' x >"$E2E_TMP/note"
jq -c --rawfile v "$E2E_TMP/note" '.metadata.name = "big" | .metadata.annotations = {note: $v}' \
  <<<"$pod" >"$E2E_TMP/big.json"
r=$(api POST "$pods" -H 'Content-Type: application/json' --data-binary "@$E2E_TMP/big.json")
[[ $(status_of "$r") == 422 ]] || fail "256 KiB + 1 of annotations: $(status_of "$r")"
body_of "$r" | jq -e '.details.causes[0].field == "metadata.annotations" and
  .details.causes[0].message == "Too long: may not be more than 262144 bytes"' >/dev/null ||
  fail "annotations limit: $(body_of "$r" | cut -c1-300)"
pass "label, annotation and finalizer limits: serve answers 422 as migdra validate does"

# good_pod_runs NAME: a pod runs to Succeeded beside whatever the tests above left behind.
good_pod_runs() {
  jq -c --arg n "$1" '.metadata.name = $n | .spec.containers[0].command = ["sh", "-c", "echo ran"]' <<<"$pod" |
    k apply -f - >/dev/null || fail "creating pod $1"
  wait_for "pod $1 to succeed" 90 bash -c "[[ \$(timeout 30 $KUBECTL_BIN get pod $1 -o jsonpath='{.status.phase}') == Succeeded ]]"
  [[ $(k logs "$1") == ran ]] || fail "pod $1 log: $(k logs "$1" 2>&1)"
}
good_pod_runs good
kill -0 "$SERVER_PID" || fail "serve exited"
pass "the server still serves and pods still run"

# Rows written behind the API's back: an undecodable one, a pod the runner cannot take
# (finalizers is a string) and a pod the claim controller cannot record on (its
# resourceClaimStatuses is a string, once its template exists). Without the workers' guards
# serve aborts within a second of every start.
stop_server
python3 - "$DATA_DIR/state.db" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
def pod(name, uid, **extra):
    body = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": uid, "resourceVersion": "1",
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"restartPolicy": "Never",
                     "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]},
            "status": {"phase": "Pending"}}
    for path, value in extra.items():
        node = body
        keys = path.split("__")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    return json.dumps(body)
rows = [
    ("pods", "default", "aaa-undecodable", '{"metadata": {"name": '),
    ("pods", "default", "aaa-finalizers", pod("aaa-finalizers", "u-fin", metadata__finalizers="x",
                                               spec__nodeName="e2e-node")),
    ("pods", "default", "aaa-claims", pod("aaa-claims", "u-claims",
                                           spec__resourceClaims=[{"name": "gpu",
                                               "resourceClaimTemplateName": "one-mig"}],
                                           status__resourceClaimStatuses="x")),
]
db.executemany("INSERT OR REPLACE INTO objects (resource, ns, name, body) VALUES (?, ?, ?, ?)", rows)
db.commit()
PY
start_server
grep -qF 'row pods default/aaa-undecodable is not a JSON object; skipped' "$SERVER_LOG" ||
  fail "the undecodable row is not named: $(cat "$SERVER_LOG")"
grep -qF '1 undecodable rows skipped' "$SERVER_LOG" || fail "no count of undecodable rows"
pass "undecodable rows at start-up are named and counted; serve starts"

good_pod_runs good-after-restart
k apply -f - >/dev/null <<'YAML' || fail "creating the claim template"
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata:
  name: one-mig
spec:
  spec:
    devices:
      requests:
      - name: gpu
        exactly:
          deviceClassName: mig.nvidia.com
YAML
failed_sync() {
  k get events -o json | jq -e --arg n "$1" --arg c "$2" \
    '[.items[] | select(.reason == "FailedSync" and .type == "Warning" and .involvedObject.name == $n and .source.component == $c)] | length > 0'
}
wait_for "a FailedSync event on aaa-finalizers" 30 failed_sync aaa-finalizers kubelet
wait_for "a FailedSync event on aaa-claims" 30 failed_sync aaa-claims resourceclaim-controller
grep -q 'kubelet: Pod default/aaa-finalizers: ' "$SERVER_LOG" || fail "no log line for aaa-finalizers"
k get pods >/dev/null || fail "kubectl get pods"
kill -0 "$SERVER_PID" || fail "serve exited"
pass "objects the workers cannot handle are reported as FailedSync Events; serve goes on"
echo "malformed: all checks passed"
