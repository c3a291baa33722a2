#!/usr/bin/env bash
# ConfigMaps and Secrets through the real kubectl: create (kubectl sends protobuf, as for
# `create namespace` and `create job`, also here), get, watch,
# patch, the API server's validation; a pod's env/envFrom from them and configMap, secret and
# emptyDir volumes; and the Pending reasons for what serve cannot give a pod.
source "$(dirname "$0")/lib.sh"

start_server
MNT=$E2E_TMP/mnt
mkdir -p "$MNT/config" "$MNT/secret" "$MNT/scratch"
printf 'line1\nline2\n' >"$E2E_TMP/settings.ini"

# --- the kinds --------------------------------------------------------------------------------
"$KUBECTL_BIN" get configmaps --output-watch-events --watch >"$E2E_TMP/watch" 2>&1 &
WATCH=$!
k create configmap app --from-literal=mode=fast --from-literal=level=3 --from-file="$E2E_TMP/settings.ini"
k create secret generic creds --from-literal=token=s3cr3t --from-literal=user=admin
[[ $(k get cm app -o jsonpath='{.data.mode}') == fast ]] || fail "configmap data"
[[ $(k get cm app -o jsonpath='{.data.settings\.ini}') == $'line1\nline2' ]] || fail "configmap file"
[[ $(k get secret creds -o jsonpath='{.data.token}' | base64 -d) == s3cr3t ]] || fail "secret data"
[[ $(k get secret creds -o jsonpath='{.type}') == Opaque ]] || fail "secret type default"
k get secret creds | grep -Eq '^creds +Opaque +2 ' || fail "kubectl get secret columns: $(k get secret creds)"
k get cm app | grep -Eq '^app +3 ' || fail "kubectl get cm columns: $(k get cm app)"
# kubectl's other typed create commands for served kinds also send protobuf.
k create namespace team-a | grep -q '^namespace/team-a created$' || fail "kubectl create namespace"
[[ $(k get namespace team-a -o jsonpath='{.status.phase}') == Active ]] || fail "namespace team-a"
out=$(k delete namespace default 2>&1) && fail "kubectl delete namespace default succeeded"
[[ $out == 'Error from server (Forbidden): namespaces "default" is forbidden: this namespace may not be deleted' ]] ||
  fail "kubectl delete namespace default: $out"
k create job -n team-a hello --image=busybox -- echo "hello from a job" >/dev/null
[[ $(k get job -n team-a hello -o json | jq -c '.spec.template.spec | [.restartPolicy, .containers[0].name, .containers[0].command]') == '["Never","hello",["echo","hello from a job"]]' ]] ||
  fail "kubectl create job: $(k get job -n team-a hello -o json | jq -c .spec)"
job_done() { [[ $(k get job -n team-a hello -o jsonpath='{.status.succeeded}') == 1 ]]; }
wait_for "the job kubectl created" 60 job_done
[[ $(k logs -n team-a job/hello) == "hello from a job" ]] || fail "job log: $(k logs -n team-a job/hello)"
# Quantities are stored as the API server re-encodes what it decoded: in canonical form.
k apply -f - <<'YAML' >/dev/null
apiVersion: v1
kind: Pod
metadata: {name: sized, namespace: team-a}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command: ["true"]
    resources:
      limits: {cpu: 0.5, memory: 1024Mi}
YAML
limits=$(k get pod -n team-a sized -o jsonpath='{.spec.containers[0].resources.limits}')
[[ $limits == '{"cpu":"500m","memory":"1Gi"}' ]] || fail "limits not in canonical form: $limits"
# kubectl posts protobuf to a group serve does not serve: the mux's 404, as from an API server
# without that group, not a complaint about the encoding.
out=$(k create deployment web --image=busybox 2>&1) && fail "kubectl create deployment succeeded: $out"
[[ $out == "error: failed to create deployment: the server could not find the requested resource" ]] ||
  fail "kubectl create deployment: $out"
k apply -f - <<'YAML'
apiVersion: v1
kind: Secret
metadata: {name: mixed}
data: {a: YWFh}
stringData: {b: bbb, a: from-string-data}
YAML
[[ $(k get secret mixed -o json | jq -c '[.data.a, .data.b, .stringData]') == '["ZnJvbS1zdHJpbmctZGF0YQ==","YmJi",null]' ]] ||
  fail "stringData not merged into data: $(k get secret mixed -o json | jq -c .)"
# Go's decoder also takes []byte as a JSON array of byte values; the API server stores the bytes.
k apply -f - <<'YAML' >/dev/null
apiVersion: v1
kind: Secret
metadata: {name: byte-array}
data: {k: [104, 105]}
YAML
[[ $(k get secret byte-array -o jsonpath='{.data.k}') == aGk= ]] ||
  fail "Secret data as a byte array: $(k get secret byte-array -o json | jq -c .data)"
k patch cm app -p '{"data":{"mode":"slow"}}' >/dev/null
[[ $(k get cm app -o jsonpath='{.data.mode}') == slow ]] || fail "patch of a configmap"
pass "configmaps and secrets: create, get (DATA/TYPE columns), stringData, byte arrays, patch"

refused() {  # refused EXPECTED-MESSAGE: the manifest on stdin is refused with that message
  if k apply -f - >/dev/null 2>"$E2E_TMP/refused"; then fail "accepted, want: $1"; fi
  grep -qF "$1" "$E2E_TMP/refused" || fail "refusal: $(cat "$E2E_TMP/refused"), want: $1"
}
refused 'data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters' <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: bad-key}
data: {"bad key": "1"}
YAML
refused 'data[..x]: Invalid value: "..x": must not start with' <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: dotdot}
data: {"..x": "1"}
YAML
refused 'data[k]: Invalid value: "k": duplicate of key present in binaryData' <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: twice}
data: {k: "1"}
binaryData: {k: "MQ=="}
YAML
refused 'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3' <<'YAML'
apiVersion: v1
kind: Secret
metadata: {name: not-base64}
data: {k: "abc!"}
YAML
refused 'data[tls.key]: Required value' <<'YAML'
apiVersion: v1
kind: Secret
metadata: {name: half-tls}
type: kubernetes.io/tls
stringData: {tls.crt: cert}
YAML
head -c 1100000 /dev/zero | tr '\0' a >"$E2E_TMP/large"
k create configmap large --from-file=f="$E2E_TMP/large" 2>"$E2E_TMP/err" && fail "a 1.1 MB configmap was accepted"
grep -qF 'ConfigMap "large" is invalid: []: Too long: may not be more than 1048576 bytes' "$E2E_TMP/err" ||
  fail "size: $(cat "$E2E_TMP/err")"
k apply -f - <<'YAML' >/dev/null
apiVersion: v1
kind: ConfigMap
metadata: {name: frozen}
immutable: true
data: {k: v}
YAML
k patch cm frozen -p '{"data":{"k":"w"}}' 2>"$E2E_TMP/err" && fail "an immutable configmap changed"
grep -q 'field is immutable when `immutable` is set' "$E2E_TMP/err" || fail "immutable: $(cat "$E2E_TMP/err")"
k patch secret creds -p '{"type":"kubernetes.io/basic-auth"}' 2>"$E2E_TMP/err" && fail "a secret changed type"
grep -q 'type: Invalid value: "kubernetes.io/basic-auth": field is immutable' "$E2E_TMP/err" || fail "type: $(cat "$E2E_TMP/err")"
pass "validation as the API server's: keys, binaryData overlap, base64, 1 MiB, tls keys, immutable"

# Decoding comes before validation: base64 that is not is the decoder's 400 BadRequest (no
# causes), for Secret data and ConfigMap binaryData alike.
post() {  # post PLURAL JSON [QUERY]: POST to the default namespace
  api POST "/api/v1/namespaces/default/$1${3:-}" -H 'Content-Type: application/json' -d "$2"
}
status_is() {  # status_is RESPONSE CODE REASON MESSAGE
  [[ $(tail -n1 <<<"$1") == "$2" ]] &&
    sed '$d' <<<"$1" | jq -e --arg r "$3" --arg m "$4" '.reason == $r and .message == $m and (.details.causes == null)' >/dev/null
}
r=$(post secrets '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"b64"},"data":{"k":"YWI"}}')
status_is "$r" 400 BadRequest 'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 0' ||
  fail "unpadded Secret data: $r"
r=$(post configmaps '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b64"},"binaryData":{"b":"QUJD\nQUJD!"}}')
status_is "$r" 400 BadRequest 'ConfigMap in version "v1" cannot be handled as a ConfigMap: illegal base64 data at input byte 9' ||
  fail "binaryData that is not base64: $r"
pass "base64 that is not: 400 BadRequest with Go's decoder error, before validation"

# Field validation (fieldValidation, kubectl's --validate) as for every kind with a schema.
cat >"$E2E_TMP/typo.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: typo}
data: {mode: fast}
immutabel: true
YAML
out=$(k apply -f "$E2E_TMP/typo.yaml" 2>&1) && fail "a ConfigMap with a misspelt field was accepted: $out"
grep -qF 'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "immutabel"' <<<"$out" ||
  fail "strict decoding of a ConfigMap: $out"
out=$(k apply --validate=warn -f "$E2E_TMP/typo.yaml" 2>&1) || fail "--validate=warn refused the ConfigMap: $out"
grep -qF 'Warning: unknown field "immutabel"' <<<"$out" || fail "no warning for the ConfigMap: $out"
[[ $(k get cm typo -o json | jq -c '[has("immutabel"), .data.mode]') == '[false,"fast"]' ]] ||
  fail "the unknown ConfigMap field was stored: $(k get cm typo -o json)"
r=$(post secrets '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"dup"},"type":"Opaque","type":"Opaque","strinData":{"a":"b"}}' '?fieldValidation=Strict')
status_is "$r" 400 BadRequest 'Secret in version "v1" cannot be handled as a Secret: strict decoding error: duplicate field "type", unknown field "strinData"' ||
  fail "strict decoding of a Secret: $r"
r=$(post secrets '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"ignored"},"strinData":{"a":"b"}}' '?fieldValidation=Ignore')
[[ $(tail -n1 <<<"$r") == 201 ]] && sed '$d' <<<"$r" | jq -e 'has("strinData") | not' >/dev/null ||
  fail "fieldValidation=Ignore on a Secret: $r"
pass "ConfigMap and Secret field validation: Strict 400 (unknown, duplicate), Warn warns and drops, Ignore drops"
k delete cm frozen >/dev/null
wait_for "watch saw the deletion" 20 grep -Eq '^DELETED +frozen' "$E2E_TMP/watch"
kill "$WATCH" 2>/dev/null || true
grep -Eq '^ADDED +app ' "$E2E_TMP/watch" && grep -Eq '^MODIFIED +app ' "$E2E_TMP/watch" ||
  fail "watch events: $(cat "$E2E_TMP/watch")"
pass "watch: ADDED, MODIFIED, DELETED"

# --- a pod's env and volumes ------------------------------------------------------------------
k apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: consumer}
spec:
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "env | grep -E '^(APP_|TOKEN=|MODE=|ABSENT=)' | sort; sleep 600"]
    envFrom:
    - configMapRef: {name: app}
      prefix: APP_
    - secretRef: {name: missing-but-optional, optional: true}
    env:
    - {name: TOKEN, valueFrom: {secretKeyRef: {name: creds, key: token}}}
    - {name: MODE, valueFrom: {configMapKeyRef: {name: app, key: mode}}}
    - {name: ABSENT, valueFrom: {configMapKeyRef: {name: app, key: nothing, optional: true}}}
    volumeMounts:
    - {name: config, mountPath: $MNT/config}
    - {name: secret, mountPath: $MNT/secret, readOnly: true}
    - {name: scratch, mountPath: $MNT/scratch}
  volumes:
  - name: config
    configMap:
      name: app
      items: [{key: settings.ini, path: conf/settings.ini, mode: 0600}]
  - name: secret
    secret: {secretName: creds, defaultMode: 0440}
  - name: scratch
    emptyDir: {}
YAML
can_mount=1
unshare -m true 2>/dev/null || can_mount=0
if [[ $can_mount == 1 ]]; then
  wait_for "consumer running" 60 bash -c "[[ \$(timeout 20 $KUBECTL_BIN get pod consumer -o jsonpath='{.status.phase}') == Running ]]"
  wait_for "consumer printed its env" 30 bash -c "timeout 20 $KUBECTL_BIN logs consumer | grep -q TOKEN"
  [[ $(k logs consumer) == $'APP_level=3\nAPP_mode=slow\nMODE=slow\nTOKEN=s3cr3t' ]] ||
    fail "env of the consumer: $(k logs consumer)"
  pass "env: envFrom with prefix (an optional source absent), configMapKeyRef, secretKeyRef, optional key absent"
  [[ $(k exec consumer -- cat "$MNT/config/conf/settings.ini") == $'line1\nline2' ]] || fail "configMap item"
  [[ $(k exec consumer -- stat -c %a "$MNT/config/conf/settings.ini") == 600 ]] || fail "item mode"
  [[ $(k exec consumer -- ls "$MNT/secret") == $'token\nuser' ]] || fail "secret volume keys"
  [[ $(k exec consumer -- stat -c %a "$MNT/secret/token") == 440 ]] || fail "secret defaultMode"
  k exec consumer -- sh -c "echo x > $MNT/secret/token" 2>/dev/null && fail "a readOnly mount was writable"
  k exec consumer -- sh -c "echo kept > $MNT/scratch/file"
  [[ $(k exec consumer -- cat "$MNT/scratch/file") == kept ]] || fail "emptyDir"
  [[ -z $(ls -A "$MNT/config" "$MNT/secret" "$MNT/scratch" | grep -v '^/\|^$' || true) ]] ||
    fail "the volumes leaked into the node's own view of $MNT"
  pass "volumes: configMap items and mode, secret defaultMode, readOnly, emptyDir, private to the container"
else
  wait_for "consumer refused" 60 bash -c "timeout 20 $KUBECTL_BIN get pod consumer -o jsonpath='{.status.containerStatuses[0].state.waiting.message}' | grep -q CAP_SYS_ADMIN"
  pass "volumes: refused with the reason (serve cannot make mount namespaces here)"
fi

# --- Pending with a reason naming what serve cannot give -------------------------------------
k apply -f - <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: waits-for-config}
spec:
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "echo \"got $V\"; sleep 600"]
    env: [{name: V, valueFrom: {configMapKeyRef: {name: later, key: v}}}]
---
apiVersion: v1
kind: Pod
metadata: {name: probed}
spec:
  containers:
  - {name: c, image: busybox, command: ["sleep", "600"], livenessProbe: {exec: {command: ["true"]}}}
---
apiVersion: v1
kind: Pod
metadata: {name: host-path}
spec:
  containers:
  - {name: c, image: busybox, command: ["sleep", "600"]}
  volumes: [{name: v, hostPath: {path: /tmp}}]
---
apiVersion: v1
kind: Pod
metadata: {name: limited}
spec:
  containers:
  - {name: c, image: busybox, command: ["sleep", "600"], resources: {limits: {memory: 1Gi}}}
---
apiVersion: v1
kind: Pod
metadata: {name: nowhere-to-mount}
spec:
  containers:
  - name: c
    image: busybox
    command: ["sleep", "600"]
    volumeMounts: [{name: v, mountPath: /no/such/folder}]
  volumes: [{name: v, emptyDir: {}}]
YAML
waiting_is() {  # waiting_is POD REASON MESSAGE-FRAGMENT
  [[ $(k get pod "$1" -o jsonpath='{.status.phase} {.status.containerStatuses[0].state.waiting.reason}') == "Pending $2" ]] &&
    k get pod "$1" -o jsonpath='{.status.containerStatuses[0].state.waiting.message}' | grep -qF "$3"
}
wait_for "waits-for-config" 30 waiting_is waits-for-config CreateContainerConfigError 'configmap "later" not found'
wait_for "probed" 30 waiting_is probed UnsupportedField 'spec.containers[0].livenessProbe: serve does not run probes'
wait_for "host-path" 30 waiting_is host-path UnsupportedField 'spec.volumes[0].hostPath: volume type hostPath is not served'
wait_for "limited" 30 waiting_is limited UnsupportedField 'spec.containers[0].resources.limits'
if [[ $can_mount == 1 ]]; then
  wait_for "nowhere-to-mount" 30 waiting_is nowhere-to-mount UnsupportedField \
    'spec.containers[0].volumeMounts[0].mountPath: mountPath /no/such/folder is not an existing directory'
fi
pass "Pending, reason naming the field: probes, hostPath, limits, a missing mountPath, a missing configmap"
k create configmap later --from-literal=v=arrived >/dev/null
wait_for "waits-for-config runs once its configmap exists" 30 bash -c "timeout 20 $KUBECTL_BIN logs waits-for-config | grep -q 'got arrived'"
pass "a pod waiting for its configmap starts when it is created"
k delete pod --all --wait=true --timeout=60s >/dev/null

# --- a started pod outlives its ConfigMap across a restart of serve ---------------------------
# As a kubelet keeps running a started pod whose ConfigMap is deleted: the restarted runner adopts
# its containers and keeps the pod Running (not Pending); a container restart that can no longer
# get its env waits with CreateContainerConfigError; deleting the pod kills it and destroys its
# MIG partition, as it does for a pod deleted while serve was down.
k apply -f "$EXAMPLES/deviceclass.yaml" -f "$EXAMPLES/resourceclaimtemplate.yaml" >/dev/null
k create configmap fleeting --from-literal=v=here >/dev/null
MARK=$(basename "$E2E_TMP")-outlives  # in the command line of each of the pod's containers
GONE=$(basename "$E2E_TMP")-gone
k apply -f - <<YAML >/dev/null
apiVersion: v1
kind: Pod
metadata: {name: outlives}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "echo \"got \$V\"; while :; do sleep 0.2; done", "$MARK"]
    env: [{name: V, valueFrom: {configMapKeyRef: {name: fleeting, key: v}}}]
    resources: {claims: [{name: gpu}]}
  - name: again
    image: busybox
    command: ["sh", "-c", "while [ ! -e $E2E_TMP/again-exits ]; do sleep 0.2; done; exit 1", "$MARK"]
    env: [{name: V, valueFrom: {configMapKeyRef: {name: fleeting, key: v}}}]
  resourceClaims:
  - {name: gpu, resourceClaimTemplateName: mig-gpu-1g}
---
apiVersion: v1
kind: Pod
metadata: {name: gone}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "while :; do sleep 0.2; done", "$GONE"]
    env: [{name: V, valueFrom: {configMapKeyRef: {name: fleeting, key: v}}}]
    resources: {claims: [{name: gpu}]}
  resourceClaims:
  - {name: gpu, resourceClaimTemplateName: mig-gpu-1g}
YAML
state_of() { k get pod outlives -o jsonpath="{.status.containerStatuses[?(@.name==\"$1\")].state}"; }
mig_instances() { jq '[.gpus[].gis[]] | length' "$DATA_DIR/driver/nvmlsim-state.json"; }
wait_for "outlives running" 60 bash -c "[[ \$(timeout 20 $KUBECTL_BIN get pod outlives -o jsonpath='{.status.phase}') == Running ]]"
wait_for "gone running" 60 bash -c "[[ \$(timeout 20 $KUBECTL_BIN get pod gone -o jsonpath='{.status.phase}') == Running ]]"
wait_for "outlives printed its env" 30 bash -c "timeout 20 $KUBECTL_BIN logs outlives -c main | grep -q 'got here'"
main_id=$(k get pod outlives -o jsonpath='{.status.containerStatuses[?(@.name=="main")].containerID}')
processes=$(pgrep -f -- "$MARK")  # the containers' shells and their supervisors
[[ $(mig_instances) == 2 ]] || fail "MIG instances while outlives and gone run: $(mig_instances)"

# serve dies; while serve runs without its node (API only) the ConfigMap and the pod gone are
# deleted, and the status the old runner wrote is cleared, so that the restarted runner's own
# report is seen.
kill -9 "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=
NO_NODE=1 start_server
k delete configmap fleeting >/dev/null
k delete pod gone --wait=false >/dev/null
k patch pod outlives --subresource=status --type=json \
  -p '[{"op":"remove","path":"/status/containerStatuses"}]' >/dev/null
stop_server
start_server
k wait --for=delete pod/gone --timeout=60s >/dev/null || fail "gone was not let go: $(k get pod gone -o json)"
pids=$(pgrep -af -- "$GONE" || true)
[[ -z $pids ]] || fail "processes of the pod deleted while serve was down are left: $pids"
[[ $(mig_instances) == 1 ]] || fail "MIG instances after gone's deletion: $(mig_instances)"
pass "a pod deleted while serve was down is killed and its MIG partition destroyed"
wait_for "the restarted runner to report outlives" 60 bash -c "[[ -n \$(timeout 20 $KUBECTL_BIN get pod outlives -o jsonpath='{.status.containerStatuses}') ]]"
[[ $(k get pod outlives -o jsonpath='{.status.phase}') == Running ]] ||
  fail "outlives after the restart: $(k get pod outlives -o jsonpath='{.status.phase} {.status.containerStatuses}')"
[[ $(k get pod outlives -o jsonpath='{.status.containerStatuses[?(@.name=="main")].containerID}') == "$main_id" &&
   $(state_of main) == *running* ]] || fail "main was not adopted: $(state_of main)"
[[ $(pgrep -f -- "$MARK") == "$processes" ]] || fail "the containers' processes changed: $(pgrep -af -- "$MARK")"
pass "a started pod stays Running when its ConfigMap is deleted across a restart of serve"
touch "$E2E_TMP/again-exits"
wait_for "again's restart to wait for its config" 30 bash -c "timeout 20 $KUBECTL_BIN get pod outlives -o jsonpath='{.status.containerStatuses[?(@.name==\"again\")].state.waiting.reason}' | grep -qx CreateContainerConfigError"
[[ $(state_of again) == *'configmap \"fleeting\" not found'* ]] || fail "again's waiting message: $(state_of again)"
[[ $(k get pod outlives -o jsonpath='{.status.phase}') == Running && $(state_of main) == *running* ]] ||
  fail "outlives after again's restart: $(k get pod outlives -o jsonpath='{.status.phase} {.status.containerStatuses}')"
pass "a container restart without its ConfigMap waits with CreateContainerConfigError; the pod runs on"
k delete pod outlives --timeout=60s >/dev/null || fail "kubectl delete pod outlives"
pids=$(pgrep -af -- "$MARK" || true)
[[ -z $pids ]] || fail "processes of the deleted pod are left: $pids"
[[ $(mig_instances) == 0 ]] || fail "the deleted pod's MIG instance is left: $(mig_instances)"
pass "deleting the adopted pod kills its processes and destroys its MIG partition"
