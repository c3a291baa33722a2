#!/usr/bin/env bash
# Runs cri_test's ContainerdRuntime cases (src/cri/containerd_runtime_test.cc) against a private
# containerd with the CRI plugin (lib.sh) and the pause and demo images of scripts/oci_image.sh.
# Usage: cri_runtime.sh PATH/TO/cri_test   (exit 77 = skipped: no root, containerd, runc, umoci,
# skopeo or busybox-static)
set -euo pipefail
test_binary=${1:?usage: cri_runtime.sh PATH/TO/cri_test}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/tests/containerd/lib.sh"
source "$ROOT/tests/containerd/cri.sh"
cri_test_require || exit 77
tmp=$(mktemp -d /tmp/migdra-cri.XXXXXX)
trap 'containerd_stop || true; rm -rf "$tmp"' EXIT

cri_containerd_start "$tmp"
MIGDRA_CRI_SOCKET=$CONTAINERD_SOCKET "$test_binary" --gtest_filter='ContainerdRuntimeTest.*'
