#!/usr/bin/env bash
# The data directory is private: a DIR left world-readable (as earlier versions did, or by hand)
# is made 0700 at start and every file in it 0600 (token, keys, state.db, kubeconfig); the
# driver's socket sits in a 0700 folder. A failing random generator (RAND_bytes, preloaded from
# $RAND_BYTES_FAIL) stops serve with a clear error instead of a predictable token.
source "$(dirname "$0")/lib.sh"
start_server
stop_server
chmod 0755 "$DATA_DIR" "$DATA_DIR/plugins/gpu.nvidia.com"
find "$DATA_DIR" -maxdepth 1 -type f -exec chmod 0644 {} +
start_server
mode() { stat -c %a "$1"; }
[[ $(mode "$DATA_DIR") == 700 ]] || fail "DIR is $(mode "$DATA_DIR")"
for f in token server.key ca.key state.db kubeconfig; do
  [[ $(mode "$DATA_DIR/$f") == 600 ]] || fail "$f is $(mode "$DATA_DIR/$f")"
done
open=$(find "$DATA_DIR" -maxdepth 1 -type f -perm /077)
[[ -z $open ]] || fail "files others may read: $open"
[[ $(mode "$DATA_DIR/plugins/gpu.nvidia.com") == 700 ]] ||
  fail "the DRA socket's folder is $(mode "$DATA_DIR/plugins/gpu.nvidia.com")"
[[ $(mode "$DATA_DIR/plugins/gpu.nvidia.com/dra.sock") == 600 ]] || fail "dra.sock is not 0600"
k get pods >/dev/null || fail "kubectl after the restart"
pass "a world-readable data dir is made private at start (DIR 0700, files 0600, socket folder 0700)"

[[ -f ${RAND_BYTES_FAIL:-} ]] || fail "RAND_BYTES_FAIL names no library"
fresh=$E2E_TMP/fresh
rc=0
LD_PRELOAD=$RAND_BYTES_FAIL timeout 60 "$MIGDRA" serve --data-dir "$fresh" --listen 127.0.0.1:0 \
  --simulate a100-80gb:1 >"$E2E_TMP/rand.out" 2>"$E2E_TMP/rand.err" || rc=$?
[[ $rc == 1 ]] || fail "serve with a failing RAND_bytes exited $rc: $(cat "$E2E_TMP/rand.err")"
grep -q 'random number generator failed (RAND_bytes)' "$E2E_TMP/rand.err" ||
  fail "no clear error: $(cat "$E2E_TMP/rand.err")"
[[ ! -e $fresh/token ]] || fail "a token was written"
pass "a failing random generator stops serve with a clear error"
echo "datadir: all checks passed"
