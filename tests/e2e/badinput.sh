#!/usr/bin/env bash
# Bad input against `migdra serve`: authentication (401), invalid objects (422 with field paths,
# through curl and kubectl), unknown fields under kubectl's strict validation, malformed and
# oversized bodies (400, 413), stale updates (409), unknown paths (404), patches whose result does
# not decode (422 about field "patch").
source "$(dirname "$0")/lib.sh"
start_server
base=https://127.0.0.1:$PORT
claims=/apis/resource.k8s.io/v1/namespaces/default/resourceclaims
status_of() { tail -n1 <<<"$1"; }
body_of() { sed '$d' <<<"$1"; }

code=$(curl -sk --max-time 10 -o /dev/null -w '%{http_code}' "$base/api/v1/namespaces")
[[ $code == 401 ]] || fail "no token: got $code"
code=$(curl -sk --max-time 10 -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer wrong' "$base/apis")
[[ $code == 401 ]] || fail "wrong token: got $code"
code=$(curl -sk --max-time 10 -o /dev/null -w '%{http_code}' -X POST -d '{}' "$base$claims")
[[ $code == 401 ]] || fail "no token on POST: got $code"
[[ $(stat -c %a "$DATA_DIR/token") == 600 ]] || fail "token file mode is $(stat -c %a "$DATA_DIR/token")"
curl -s --max-time 10 --cacert "$DATA_DIR/ca.crt" "$base/readyz" | grep -q ok || fail "TLS with the generated CA"
pass "401 without a valid token; token file 0600; serving cert signed by the CA"

bad='{"apiVersion":"resource.k8s.io/v1","kind":"ResourceClaim","metadata":{"name":"bad"},
      "spec":{"devices":{"requests":[{"name":"gpu","exactly":{"deviceClassName":"nvidia-mig","count":0}}]}}}'
r=$(api POST "$claims" -H 'Content-Type: application/json' -d "$bad")
[[ $(status_of "$r") == 422 ]] || fail "invalid claim: $(status_of "$r")"
body_of "$r" | jq -e '.reason == "Invalid" and .details.causes[0].field == "spec.devices.requests[0].exactly.count"' >/dev/null ||
  fail "422 lacks the field path: $(body_of "$r")"
cat >"$E2E_TMP/bad.yaml" <<'YAML'
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata:
  name: bad
spec:
  devices:
    requests:
    - name: gpu
      exactly:
        deviceClassName: nvidia-mig
        count: 0
YAML
out=$(k apply -f "$E2E_TMP/bad.yaml" 2>&1) && fail "kubectl apply of an invalid claim succeeded"
grep -q 'is invalid' <<<"$out" && grep -q 'spec.devices.requests\[0\].exactly.count' <<<"$out" ||
  fail "kubectl shows no field path: $out"
sed 's/count: 0/cout: 1/' "$E2E_TMP/bad.yaml" >"$E2E_TMP/unknown.yaml"
out=$(k apply -f "$E2E_TMP/unknown.yaml" 2>&1) && fail "kubectl apply with an unknown field succeeded"
grep -q 'unknown field "spec.devices.requests\[0\].exactly.cout"' <<<"$out" || fail "unknown field not named: $out"
pass "422 with field paths (curl and kubectl); strict unknown-field errors"

r=$(api POST "$claims" -H 'Content-Type: application/json' -d '{"kind": ')
[[ $(status_of "$r") == 400 ]] || fail "malformed JSON: $(status_of "$r")"
head -c $((4 * 1024 * 1024)) /dev/zero | tr '\0' 'a' >"$E2E_TMP/big"
code=$(curl -sk --max-time 30 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' --data-binary "@$E2E_TMP/big" "$base$claims")
[[ $code == 413 ]] || fail "oversized body: got $code"
r=$(api GET /apis/nope.example/v1/things)
[[ $(status_of "$r") == 404 ]] || fail "unknown path: $(status_of "$r")"
pass "400 malformed, 413 oversized, 404 unknown"

good=$(sed 's/"count":0/"count":1/; s/"bad"/"good"/' <<<"$bad")
r=$(api POST "$claims" -H 'Content-Type: application/json' -d "$good")
[[ $(status_of "$r") == 201 ]] || fail "create: $(body_of "$r")"
obj=$(body_of "$r")
r=$(api PUT "$claims/good" -H 'Content-Type: application/json' -d "$(jq -c '.metadata.labels={"a":"1"}' <<<"$obj")")
[[ $(status_of "$r") == 200 ]] || fail "update: $(body_of "$r")"
r=$(api PUT "$claims/good" -H 'Content-Type: application/json' -d "$(jq -c '.metadata.labels={"a":"2"}' <<<"$obj")")
[[ $(status_of "$r") == 409 ]] || fail "stale update: $(status_of "$r")"
r=$(api PUT "$claims/good" -H 'Content-Type: application/json' \
  -d "$(jq -c '.spec.devices.requests[0].exactly.count=2 | del(.metadata.resourceVersion)' <<<"$obj")")
[[ $(status_of "$r") == 422 ]] || fail "changing an immutable claim spec: $(status_of "$r")"
r=$(api PATCH "$claims/good" -H 'Content-Type: application/apply-patch+yaml' -d '{}')
[[ $(status_of "$r") == 415 ]] || fail "unsupported patch type: $(status_of "$r")"
pass "409 on stale resourceVersion, 422 on immutable spec, 415 on unsupported patch"

# A patch whose result does not decode: the patch handler's 422 about field "patch", quoting the
# strategic merge patch as Go prints the decoded map, or the patched object for a merge patch.
out=$(k patch resourceclaim good -p '{"metadata":{"finalizers":"x"}}' 2>&1) && fail "strategic patch to a wrong type succeeded"
grep -qF 'The request is invalid: patch: Invalid value: "map[metadata:map[finalizers:x]]": cannot restore slice from string' <<<"$out" ||
  fail "strategic patch to a wrong type: $out"
out=$(k patch resourceclaim good --type=merge -p '{"metadata":{"finalizers":"x"}}' 2>&1) && fail "merge patch to a wrong type succeeded"
grep -qF 'The request is invalid: patch: Invalid value: "{\"apiVersion\":\"resource.k8s.io/v1\",' <<<"$out" &&
  grep -qF '\"finalizers\":\"x\"' <<<"$out" &&
  grep -qF '": json: cannot unmarshal string into Go struct field ObjectMeta.metadata.finalizers of type []string' <<<"$out" ||
  fail "merge patch to a wrong type: $out"
# kubectl apply to an existing object patches it under strict field validation.
sed 's/name: bad/name: good/' "$E2E_TMP/unknown.yaml" >"$E2E_TMP/unknown-good.yaml"
out=$(k apply -f "$E2E_TMP/unknown-good.yaml" 2>&1) && fail "kubectl apply of an unknown field to an existing claim succeeded"
grep -qF 'The request is invalid: patch: Invalid value: "map[metadata:map[annotations:map[kubectl.kubernetes.io/last-applied-configuration:' <<<"$out" &&
  grep -qF '": strict decoding error: unknown field "spec.devices.requests[0].exactly.cout"' <<<"$out" ||
  fail "kubectl apply of an unknown field to an existing claim: $out"
pass "422 Invalid patch for a patch whose result does not decode or has unknown fields (kubectl patch, kubectl apply)"
echo "badinput: all checks passed"
