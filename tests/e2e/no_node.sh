#!/usr/bin/env bash
# `migdra serve --no-node`: the API server, scheduler and controllers without a local node. It
# registers no Node and publishes no ResourceSlice, refuses the node's flags, and a node joins it
# as on a cluster: a real `migdra plugin` publishes its slices through serve's REST API with the
# kubeconfig serve wrote.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rc=0
"$MIGDRA" serve --data-dir "$E2E_TMP/refused" --no-node --simulate a100-80gb:1 \
  >/dev/null 2>"$E2E_TMP/refused.err" || rc=$?
[[ $rc == 2 ]] || fail "serve --no-node --simulate exited $rc, want 2"
grep -q -- "--no-node" "$E2E_TMP/refused.err" || fail "no reason given: $(cat "$E2E_TMP/refused.err")"
pass "serve --no-node refuses --simulate"

NO_NODE=1 start_server
grep -q "no local node" "$SERVER_LOG" || fail "serve's log does not say it runs no node"
[[ $(k get nodes -o json | jq '.items | length') == 0 ]] || fail "serve --no-node registered a Node"
[[ $(k get resourceslices -o json | jq '.items | length') == 0 ]] ||
  fail "serve --no-node published ResourceSlices"
pass "serve --no-node registers no Node and publishes no ResourceSlice"

PLUGIN_DIR=$E2E_TMP/plugin
mkdir -p "$PLUGIN_DIR/plugins" "$PLUGIN_DIR/registry" "$PLUGIN_DIR/cdi"
"$MIGDRA" plugin --node-name joined-node --kubeconfig "$DATA_DIR/kubeconfig" --simulate a100-80gb:1 \
  --plugins-dir "$PLUGIN_DIR/plugins" --registry-dir "$PLUGIN_DIR/registry" \
  --cdi-root "$PLUGIN_DIR/cdi" >"$E2E_TMP/plugin.log" 2>&1 &
PLUGIN_PID=$!
stop_plugin() { kill -TERM "$PLUGIN_PID" 2>/dev/null || true; wait "$PLUGIN_PID" 2>/dev/null || true; }
# errexit would end the trap at (exit $rc) when the test failed, before cleanup stops the server.
trap 'rc=$?; stop_plugin; set +e; (exit $rc); cleanup' EXIT
slices_of_joined_node() {
  [[ $(k get resourceslices -o json |
    jq '[.items[] | select(.spec.nodeName == "joined-node" and .spec.pool.name == "joined-node")] | length') -gt 0 ]]
}
wait_for "the plugin's ResourceSlices" 30 slices_of_joined_node
pass "a migdra plugin publishes its node's slices into serve --no-node"
