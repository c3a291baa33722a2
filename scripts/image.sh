#!/usr/bin/env bash
# Builds migdra's container image without a daemon or a registry, from what this machine built:
# a minimal root holding the migdra binary, nvmlsim (for --simulate) and exactly the shared
# libraries they load, as one layer on an empty image (Debian's umoci), written by Debian's skopeo
# as an OCI archive and a docker-archive (`docker load -i`, `podman load -i`,
# `ctr images import`). deployments/container/Containerfile builds the same image with Docker or
# Podman from source.
#
# Usage: scripts/image.sh [--build DIR] [--out DIR] [--name NAME]
#   --build DIR  the CMake build folder holding src/cli/migdra (default: build)
#   --out DIR    where the archives go (default: DIR of --build)
#   --name NAME  image name without tag (default: migdra); the tag is migdra's version
# Writes OUT/migdra-image.oci.tar and OUT/migdra-image.docker.tar and prints the image reference.
# Labels: org.opencontainers.image.version (what `migdra --version` prints) and
# org.opencontainers.image.revision (the checkout's commit, "-dirty" when tracked files differ).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=build out= name=migdra
while (($#)); do
  case $1 in
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --name) name=$2; shift 2 ;;
    *) echo "usage: scripts/image.sh [--build DIR] [--out DIR] [--name NAME]" >&2; exit 2 ;;
  esac
done
[[ $build = /* ]] || build=$root/$build
out=${out:-$build}
binary=$build/src/cli/migdra
nvmlsim=$build/src/nvmlsim/libnvidia-ml.so.1
for f in "$binary" "$nvmlsim"; do
  [[ -f $f ]] || { echo "image: $f not found: build migdra first (ninja -C $build migdra)" >&2; exit 2; }
done
for tool in umoci skopeo ldd; do
  command -v "$tool" >/dev/null || { echo "image: $tool not found (bash scripts/setup.sh)" >&2; exit 2; }
done

version=$("$binary" --version | awk '{print $2}')
revision=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
if [[ $revision != unknown ]] && ! git -C "$root" diff --quiet HEAD 2>/dev/null; then
  revision+=-dirty
fi
reference=$name:$version

work=$(mktemp -d /tmp/migdra-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs

# The root follows Debian's merged /usr: /bin, /lib and /lib64 link into /usr, so the paths ldd
# prints (and the ELF interpreter /lib64/ld-linux-x86-64.so.2) resolve inside the image.
mkdir -p "$rootfs"/usr/{bin,lib/migdra,lib64} "$rootfs"/tmp "$rootfs"/etc
chmod 1777 "$rootfs/tmp"
ln -s usr/bin "$rootfs/bin"
ln -s usr/lib "$rootfs/lib"
ln -s usr/lib64 "$rootfs/lib64"
install -m 0755 "$binary" "$rootfs/usr/bin/migdra"
# Where `migdra --simulate` looks for nvmlsim next to an installed binary (gpu/simulator.h). Real
# NVML is never in the image: the plugin loads the host driver's libnvidia-ml.so.1 from the driver
# root that the DaemonSet mounts.
install -m 0644 "$nvmlsim" "$rootfs/usr/lib/migdra/libnvidia-ml.so.1"
echo "root:x:0:0:root:/root:/usr/bin/migdra" >"$rootfs/etc/passwd"
echo "root:x:0:" >"$rootfs/etc/group"

# A library path as ldd prints it, placed under the image's /usr.
place() {
  local path=$1 target
  target=$rootfs/usr${path#/usr}
  mkdir -p "$(dirname "$target")"
  cp -L "$path" "$target"
}
# Every library the binary and nvmlsim load (their DT_NEEDED closure), and the ELF interpreter.
while read -r lib; do
  place "$lib"
done < <(ldd "$binary" "$nvmlsim" | awk '/=> \// {print $3} /^[ \t]*\/.*ld-linux/ {print $1}' | sort -u)
# The host driver's libnvidia-ml.so.1, dlopened from the driver root, links glibc's libdl,
# libpthread and librt by name; glibc 2.34+ keeps them as stubs, which the image must hold too.
libc_dir=$(dirname "$(ldd "$binary" | awk '$1 == "libc.so.6" {print $3}')")
for stub in libdl.so.2 libpthread.so.0 librt.so.1; do
  place "$libc_dir/$stub"
done

# One layer on an empty image, then the config (entrypoint, environment, labels).
layout=$work/oci
umoci init --layout "$layout"
umoci new --image "$layout:$version"
umoci insert --image "$layout:$version" --history.comment "migdra $version and its libraries" \
  "$rootfs" /
umoci config --image "$layout:$version" --architecture amd64 --os linux \
  --config.entrypoint /usr/bin/migdra --config.cmd plugin \
  --config.env PATH=/usr/bin \
  --config.label "org.opencontainers.image.title=migdra" \
  --config.label "org.opencontainers.image.version=$version" \
  --config.label "org.opencontainers.image.revision=$revision" \
  --manifest.annotation "org.opencontainers.image.version=$version" \
  --manifest.annotation "org.opencontainers.image.revision=$revision"
umoci gc --layout "$layout"

mkdir -p "$out"
rm -f "$out/migdra-image.oci.tar" "$out/migdra-image.docker.tar"
skopeo --insecure-policy copy --quiet "oci:$layout:$version" \
  "oci-archive:$out/migdra-image.oci.tar:$reference"
skopeo --insecure-policy copy --quiet "oci:$layout:$version" \
  "docker-archive:$out/migdra-image.docker.tar:$reference"
echo "image: $reference (revision $revision, $(du -sh "$rootfs" | cut -f1) unpacked)"
echo "  $out/migdra-image.oci.tar"
echo "  $out/migdra-image.docker.tar"
