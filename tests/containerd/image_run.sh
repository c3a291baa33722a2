#!/usr/bin/env bash
# The image test: scripts/image.sh builds migdra's image from this build (no daemon, no registry),
# a private containerd (tests/containerd/lib.sh) imports both archives it writes, and `ctr run`
# runs `migdra --version` and `migdra discover --simulate a100-80gb:1` inside the image: they must
# print what the binary prints outside it. The labels must name the version and the revision.
# Usage: image_run.sh BUILD_DIR. Exit 77 (skipped) without root or without containerd/runc/umoci/
# skopeo.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: image_run.sh BUILD_DIR}" && pwd)
source "$root/tests/containerd/lib.sh"
containerd_require || exit 77
for tool in umoci skopeo; do
  command -v "$tool" >/dev/null || { echo "skipped: $tool not found (scripts/setup.sh)"; exit 77; }
done

tmp=$(mktemp -d /tmp/migdra-image-test.XXXXXX)
cleanup() {
  containerd_stop
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

bash "$root/scripts/image.sh" --build "$build" --out "$tmp/out"
migdra=$build/src/cli/migdra
version=$("$migdra" --version | awk '{print $2}')

# The labels a registry and `docker inspect` show.
labels=$(skopeo --insecure-policy inspect --config "oci-archive:$tmp/out/migdra-image.oci.tar" |
  jq -c '.config.Labels')
[[ $(jq -r '."org.opencontainers.image.version"' <<<"$labels") == "$version" ]] ||
  fail "version label is not $version: $labels"
[[ $(jq -r '."org.opencontainers.image.revision"' <<<"$labels") == $(git -C "$root" rev-parse HEAD)* ]] ||
  fail "revision label is not this checkout's commit: $labels"

# The Containerfile (Docker/Podman, not run here: no daemon, no network) labels the same version.
grep -q "org.opencontainers.image.version=\"$version\"" "$root/deployments/container/Containerfile" ||
  fail "deployments/container/Containerfile does not label version $version"

containerd_start "$tmp/containerd"
containerd_ctr images import "$tmp/out/migdra-image.docker.tar" >/dev/null
containerd_ctr images import --index-name migdra-test/oci:latest \
  "$tmp/out/migdra-image.oci.tar" >/dev/null

run_in() {  # IMAGE ID ARGS...: runs ARGS in a fresh container of IMAGE, removed afterwards
  local image=$1 id=$2
  shift 2
  containerd_ctr run --rm "$image" "$id" "$@"
}
inside=$(run_in "docker.io/library/migdra:$version" version migdra --version)
[[ $inside == "$("$migdra" --version)" ]] || fail "migdra --version in the image printed '$inside'"

# The same slices inside the image as outside (nvmlsim ships in the image for --simulate).
run_in migdra-test/oci:latest discover migdra discover --simulate a100-80gb:1 --node test-node \
  >"$tmp/inside.yaml"
"$migdra" discover --simulate a100-80gb:1 --node test-node >"$tmp/outside.yaml" 2>/dev/null
grep -q 'name: gpu-0-mig-1g10gb-19-0' "$tmp/inside.yaml" ||
  fail "discover in the image printed no MIG partition: $(head -40 "$tmp/inside.yaml")"
diff -u "$tmp/outside.yaml" "$tmp/inside.yaml" || fail "discover differs inside the image"
echo "PASS: migdra $version runs under containerd from both archives"
