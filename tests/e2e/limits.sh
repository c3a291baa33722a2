#!/usr/bin/env bash
# The API server's request limits, through curl and a raw TLS socket: 3 MiB of body whatever the
# framing (a chunked 50 MB body is a 413) and after decoding (a gzip body that inflates to 200 MB
# is a 413 while a small one is accepted), JSON nested deeper than 10,000 levels is a 400 (80,000
# levels crashed the process), a request head over 64 KiB is a 431, and the token is checked
# before the body is read: an unauthenticated request gets its 401 while its body is still
# arriving. Through all of it the server's memory stays bounded.
source "$(dirname "$0")/lib.sh"
start_server
base=https://127.0.0.1:$PORT
events=/api/v1/namespaces/default/events
post() {  # post FILE [curl args...]: prints the status code
  local file=$1
  shift
  curl -sk --max-time 60 -o "$E2E_TMP/answer" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' --data-binary "@$file" "$@" "$base$events"
}
event() {  # event NAME EXTRA_JSON: an Event with one more field
  echo "{\"apiVersion\":\"v1\",\"kind\":\"Event\",\"metadata\":{\"name\":\"$1\"},\"involvedObject\":{\"kind\":\"Pod\",\"name\":\"p\"},\"reason\":\"r\",\"message\":\"m\",\"x\":$2}"
}

python3 -c 'import sys; sys.stdout.write("{\"a\":\"" + "a" * (50 << 20) + "\"}")' >"$E2E_TMP/big.json"
code=$(post "$E2E_TMP/big.json" -H 'Transfer-Encoding: chunked')
[[ $code == 413 ]] || fail "chunked 50 MB body: got $code"
pass "a chunked 50 MB body: 413"

python3 - "$E2E_TMP/bomb.gz" <<'PY'
import sys, zlib
gzip = zlib.compressobj(9, zlib.DEFLATED, 31)
with open(sys.argv[1], "wb") as out:
    out.write(gzip.compress(b'{"a":"'))
    for _ in range(200):
        out.write(gzip.compress(b"a" * (1 << 20)))
    out.write(gzip.compress(b'"}') + gzip.flush())
PY
code=$(post "$E2E_TMP/bomb.gz" -H 'Content-Encoding: gzip')
[[ $code == 413 ]] || fail "gzip body of $(stat -c %s "$E2E_TMP/bomb.gz") bytes inflating to 200 MB: got $code"
event zipped '"small"' | gzip >"$E2E_TMP/small.gz"
code=$(post "$E2E_TMP/small.gz" -H 'Content-Encoding: gzip')
[[ $code == 201 ]] || fail "small gzip body: got $code $(cat "$E2E_TMP/answer")"
pass "gzip bodies: $(stat -c %s "$E2E_TMP/bomb.gz") bytes inflating to 200 MB is a 413; a small one is created"

nested() { python3 -c "import sys; d=int(sys.argv[1]); sys.stdout.write('['*d + ']'*d)" "$1"; }
event deep "$(nested 80000)" >"$E2E_TMP/deep.json"
code=$(post "$E2E_TMP/deep.json")
[[ $code == 400 ]] || fail "JSON nested 80,000 levels: got $code"
jq -e '.message | test("deeper than 10000 levels")' "$E2E_TMP/answer" >/dev/null || fail "400 without the reason: $(cat "$E2E_TMP/answer")"
event nested "$(nested 9000)" >"$E2E_TMP/nested.json"
code=$(post "$E2E_TMP/nested.json")
[[ $code == 201 ]] || fail "JSON nested 9,000 levels: got $code"
pass "JSON nested 80,000 levels: 400; 9,000 levels: created"

code=$(curl -sk --max-time 10 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
  -H "X-Big: $(head -c 70000 /dev/zero | tr '\0' a)" "$base/api/v1/namespaces")
[[ $code == 431 ]] || fail "70 KB request head: got $code"
pass "a request head over 64 KiB: 431"

# A raw TLS client without a token starts a chunked upload and never ends it: the 401 comes back
# while the body is still open.
python3 - "$PORT" <<'PY' || fail "no 401 before the body ended"
import socket, ssl, sys
context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
with context.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)) as s:
    s.sendall(b"POST /api/v1/namespaces/default/events HTTP/1.1\r\nHost: migdra\r\n"
              b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"100000\r\n" + b"a" * 1000)
    answer = s.recv(4096)
    sys.exit(0 if answer.startswith(b"HTTP/1.1 401 ") else 1)
PY
pass "401 before an unauthenticated request's body is read"

# A name that is not UTF-8 reaches the error message: still a JSON 404 (it was a 500).
code=$(curl -sk --max-time 10 -o "$E2E_TMP/answer" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
  "$base/api/v1/namespaces/default/pods/%FF%FE")
[[ $code == 404 ]] && jq -e '.reason == "NotFound"' "$E2E_TMP/answer" >/dev/null ||
  fail "a name that is not UTF-8: $code $(cat "$E2E_TMP/answer")"
pass "a name that is not UTF-8: 404 Status"

# A label selector whose number overflows 64 bits is a 400 (it was a 500: an uncaught exception).
code=$(curl -sk --max-time 10 -o "$E2E_TMP/answer" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
  "$base/api/v1/namespaces/default/pods?labelSelector=n%3E99999999999999999999")
[[ $code == 400 ]] || fail "an overflowing selector number: $code $(cat "$E2E_TMP/answer")"
pass "a label selector number that overflows: 400"

peak_kib=$(awk '/^VmHWM/ {print $2}' "/proc/$SERVER_PID/status")
echo "peak server RSS: $((peak_kib / 1024)) MiB"
((peak_kib < 512 * 1024)) || fail "the server's peak RSS reached $((peak_kib / 1024)) MiB"
kill -0 "$SERVER_PID" || fail "the server died"
pass "the server's peak memory stayed under 512 MiB"
echo "limits: all checks passed"
