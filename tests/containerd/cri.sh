# Helpers for tests that drive containerd's CRI plugin (migdra's containerd runtime); source after
# lib.sh:
#   cri_test_require || exit 77    root, containerd and runc (else the test cannot run: skip), and
#                                  the image tools of scripts/oci_image.sh (else it fails: 1)
#   cri_containerd_start DIR       images + private containerd with the CRI plugin, images imported
#   containerd_cri_config DIR      the CRI plugin's settings alone (CONTAINERD_EXTRA_CONFIG)

cri_test_require() {
  containerd_require || return 1
  local tool
  for tool in umoci skopeo busybox; do
    command -v "$tool" >/dev/null 2>&1 || { echo "FAIL: $tool not found (scripts/setup.sh installs it)" >&2; exit 1; }
  done
}

# The pause image of scripts/oci_image.sh; no container may lower its OOM score below
# containerd's own, which a test run inside a container is not allowed to. CNI: unconfigured by
# default (an empty folder under DIR: containerd is not NetworkReady and sandboxes share the
# host's network); with CRI_CNI_CONF_DIR set, containerd loads the CNI configuration there and
# runs the plugins in CRI_CNI_BIN_DIR (default: Debian's containernetworking-plugins).
containerd_cri_config() {
  local bin_dir=$1/cni conf_dir=$1/cni
  if [[ -n ${CRI_CNI_CONF_DIR:-} ]]; then
    bin_dir=${CRI_CNI_BIN_DIR:-/usr/lib/cni}
    conf_dir=$CRI_CNI_CONF_DIR
  else
    mkdir -p "$1/cni"
  fi
  cat <<TOML
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/migdra/pause:1"
  restrict_oom_score_adj = true
[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "$bin_dir"
  conf_dir = "$conf_dir"
TOML
}

# Builds the pause and demo images into DIR/images, starts containerd with the CRI plugin under
# DIR/containerd and imports both into the CRI plugin's namespace, k8s.io (CONTAINERD_NAMESPACE).
cri_containerd_start() {
  local dir=$1 root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  bash "$root/scripts/oci_image.sh" "$dir/images" >/dev/null || return 1
  CONTAINERD_CRI=1 CONTAINERD_EXTRA_CONFIG=$(containerd_cri_config "$dir") containerd_start "$dir/containerd" ||
    return 1
  CONTAINERD_NAMESPACE=k8s.io
  containerd_ctr images import "$dir/images/pause.tar" >/dev/null &&
    containerd_ctr images import "$dir/images/demo.tar" >/dev/null
}
