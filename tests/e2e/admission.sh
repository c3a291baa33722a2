#!/usr/bin/env bash
# Admission against `migdra serve` with the real kubectl: every manifest of the invalid corpus
# (tests/invalid, each announcing `migdra validate`'s exact lines) is refused by `kubectl apply`
# (a status by `kubectl replace --subresource=status`) with the same field paths and messages; a Job with a misspelt field fails as on a real cluster
# (strict decoding, kubectl's default) and only warns under --validate=warn; a DeviceClass whose
# selector does not compile is a 422.
source "$(dirname "$0")/lib.sh"
start_server
corpus=${MIGDRA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/invalid

# Where the API server itself differs from an offline check of the file: it clears the namespace
# of a cluster-scoped object before validating it (rest.BeforeCreate), so the object is created.
server_accepts=(class-namespace-forbidden.yaml)

checked=0
for file in "$corpus"/*.yaml; do
  name=$(basename "$file")
  [[ " ${server_accepts[*]} " == *" $name "* ]] && continue
  "$MIGDRA" validate -f "$file" >/dev/null 2>&1 && fail "$name: migdra validate accepts it"
  # kubectl refuses documents that are not Kubernetes objects (Helm values) which migdra validate
  # skips: it gets the objects only.
  source_file=$file
  file=$E2E_TMP/$name
  awk 'BEGIN { RS = "\n---\n"; ORS = "\n---\n" } /(^|\n)apiVersion:/' "$source_file" >"$file"
  # Corpus files reuse names: each goes to a namespace of its own.
  ns=case-$checked
  printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$ns" | k apply -f - >/dev/null
  target=(-n "$ns")
  grep -q '^  namespace:' "$file" && target=()
  if out=$(k apply "${target[@]}" -f "$file" 2>&1); then
    # The API server drops status on create; a manifest with a status reaches validation through
    # the status subresource, as a controller writes it.
    grep -q '^status:' "$file" || fail "$name: kubectl apply accepted what migdra validate refuses: $out"
    out=$(k replace "${target[@]}" --subresource=status -f "$file" 2>&1) &&
      fail "$name: the status that migdra validate refuses was stored: $out"
  fi
  # Each announced line is KIND/NAME: PATH: MESSAGE; kubectl prints the API server's "PATH:
  # MESSAGE" for a 422 and `unknown field "PATH"` for strict decoding.
  while IFS= read -r line; do
    rest=${line#*/*: }
    # A file-level parse error or an unknown kind (kubectl's own discovery words it): the
    # refusal is enough.
    [[ $rest == "$line" || $rest != *": "* ]] && continue
    path=${rest%%: *}
    message=${rest#*: }
    if [[ $message == "unknown field" ]]; then
      want="unknown field \"$path\""
    else
      want="$path: $message"
    fi
    if [[ $path == metadata.name && $out == *"error when retrieving current configuration"* ]]; then
      # kubectl apply looks the object up by name first and refuses an empty name or one that
      # cannot be a URL path segment itself; kubectl create sends it.
      out=$(k create "${target[@]}" -f "$file" 2>&1) && fail "$name: kubectl create accepted it"
    fi
    grep -qF -- "$want" <<<"$out" || fail "$name: kubectl apply does not say '$want': $out"
    if [[ $message != "unknown field" && $out != *"Error from server (BadRequest)"* ]]; then
      # kubectl names the object of a 422 from its Status details: `The KIND "NAME" is invalid`.
      object=${line%%: *}
      lead="The ${object%%/*} \"${object#*/}\" is invalid"
      grep -qF -- "$lead" <<<"$out" || fail "$name: kubectl does not say '$lead': $out"
    fi
  done < <(sed -n 's/^# expect: //p' "$source_file")
  checked=$((checked + 1))
done
pass "$checked invalid manifests refused by kubectl apply with migdra validate's paths and messages"

job=$E2E_TMP/job.yaml
cat >"$job" <<'YAML'
apiVersion: batch/v1
kind: Job
metadata:
  name: typo
spec:
  paralelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: busybox
YAML
out=$(k apply -f "$job" 2>&1) && fail "a Job with spec.paralelism was accepted: $out"
grep -qF 'Job in version "v1" cannot be handled as a Job: strict decoding error: unknown field "spec.paralelism"' <<<"$out" ||
  fail "strict decoding error not as upstream: $out"
out=$(k apply --validate=warn -f "$job" 2>&1) || fail "--validate=warn refused the Job: $out"
grep -qF 'Warning: unknown field "spec.paralelism"' <<<"$out" || fail "no warning: $out"
[[ $(k get job typo -o json | jq -c '.spec | has("paralelism")') == false ]] || fail "the unknown field was stored"
out=$(k apply --validate=false -f "$job" 2>&1) || fail "--validate=false refused the Job: $out"
grep -q Warning <<<"$out" && fail "--validate=false (fieldValidation=Ignore) warned: $out"
pass "misspelt Job field: 400 strict decoding error by default, a Warning with --validate=warn, silence with --validate=false"

cat >"$E2E_TMP/selector.yaml" <<'YAML'
apiVersion: batch/v1
kind: Job
metadata:
  name: manual
spec:
  manualSelector: true
  selector:
    matchLabels:
      app: a
  template:
    metadata:
      labels:
        app: b
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: busybox
YAML
out=$(k apply -f "$E2E_TMP/selector.yaml" 2>&1) && fail "a Job whose selector misses its pods was accepted: $out"
grep -qF 'spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`' <<<"$out" ||
  fail "the selector mismatch is not named: $out"
sed -i 's/app: b/app: a/' "$E2E_TMP/selector.yaml"
out=$(k apply -f "$E2E_TMP/selector.yaml" 2>&1) || fail "a Job with a matching manual selector was refused: $out"
pass "a manual Job selector must select the template's labels"

r=$(api POST '/apis/batch/v1/namespaces/default/jobs?fieldValidation=Strict' -H 'Content-Type: application/json' \
  -d '{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"d","name":"d"},"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"b","imagePullPolicy":"Always","imagePullPolicy":"Never"}]}}}}')
[[ $(tail -n1 <<<"$r") == 400 ]] || fail "duplicate fields under Strict: $r"
grep -qF 'strict decoding error: duplicate field \"metadata.name\", duplicate field \"spec.template.spec.containers[0].imagePullPolicy\"' <<<"$r" ||
  fail "duplicate fields not named: $r"
r=$(api POST '/apis/batch/v1/namespaces/default/jobs?fieldValidation=Sometimes' -H 'Content-Type: application/json' -d '{}')
[[ $(tail -n1 <<<"$r") == 422 ]] || fail "an unsupported fieldValidation value: $r"
pass "duplicate fields under Strict; unsupported fieldValidation values"
out=$(k explain deviceclass.spec.selectors 2>&1) || fail "kubectl explain: $out"
grep -q 'FIELD: *selectors' <<<"$out" && grep -q 'cel' <<<"$out" || fail "kubectl explain shows no selectors: $out"
out=$(k explain job.spec.template.spec.containers.imagePullPolicy 2>&1) || fail "kubectl explain of a Job field: $out"
r=$(api GET /openapi/v2)
[[ $(tail -n1 <<<"$r") == 200 ]] && sed '$d' <<<"$r" | jq -e '.definitions["io.k8s.api.batch.v1.JobSpec"].properties.parallelism' >/dev/null ||
  fail "/openapi/v2 lacks JobSpec.parallelism"
pass "kubectl explain deviceclass.spec.selectors; /openapi/v2 and /openapi/v3 from the decoder's schema"

# NVIDIA's DeviceClasses, as its chart installs them, beside the user's own; a user's edit survives
# a restart (create-if-absent).
classes=$(k get deviceclass -o json)
for name in gpu.nvidia.com mig.nvidia.com vfio.gpu.nvidia.com compute-domain-default-channel.nvidia.com \
  compute-domain-daemon.nvidia.com; do
  jq -e --arg n "$name" '.items[] | select(.metadata.name == $n)' <<<"$classes" >/dev/null || fail "no DeviceClass $name"
done
[[ $(jq -r '.items[] | select(.metadata.name == "mig.nvidia.com") | .spec.selectors[0].cel.expression' <<<"$classes") == \
  "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'mig'" ]] || fail "mig.nvidia.com's selector"
[[ $(jq -r '.items[] | select(.metadata.name == "gpu.nvidia.com") | .spec.extendedResourceName' <<<"$classes") == nvidia.com/gpu ]] ||
  fail "gpu.nvidia.com's extendedResourceName"
diff <("$MIGDRA" deviceclasses | "$MIGDRA" validate -f - 2>&1) <(echo "5 valid, 0 skipped (not Kubernetes objects)") ||
  fail "migdra deviceclasses does not print the 5 valid classes"
k label deviceclass mig.nvidia.com edited-by=user >/dev/null
stop_server
start_server
[[ $(k get deviceclass mig.nvidia.com -o jsonpath='{.metadata.labels.edited-by}') == user ]] || fail "the user's edit was overwritten"
pass "NVIDIA's DeviceClasses installed by serve's node; a user's edit survives a restart"
echo "admission: all checks passed"
