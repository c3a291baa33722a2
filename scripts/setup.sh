#!/usr/bin/env bash
# Installs everything migdra needs to build, test and run on Debian 12 (bookworm).
# Idempotent: packages already present are skipped, so a second run takes seconds.
# Usage: scripts/setup.sh [--build-only]
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libyaml-cpp-dev nlohmann-json3-dev libsqlite3-dev sqlite3
  libcli11-dev libfmt-dev libspdlog-dev
  libcpp-httplib-dev libcurl4-openssl-dev libssl-dev openssl zlib1g-dev
  libre2-dev
  coinor-cbc
  libgtest-dev libgmock-dev librapidcheck-dev libbenchmark-dev
  clang-19 libclang-rt-19-dev
  python3-grpcio python3-protobuf python3-yaml
  curl jq
  podman runc containerd containernetworking-plugins umoci skopeo busybox-static
  chromium
)

sudo_cmd=()
[[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# apt prints hundreds of lines per install; keep them in a log that is shown only on failure.
apt_log=$(mktemp /tmp/migdra-setup.XXXXXX.log)
trap 'rm -f "$apt_log"' EXIT
quietly() {
  if ! "$@" >>"$apt_log" 2>&1; then
    echo "setup: failed: $*" >&2
    cat "$apt_log" >&2
    return 1
  fi
}

if ((${#missing[@]})); then
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  quietly "${sudo_cmd[@]}" apt-get update -qq
  quietly "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Node.js brings npm (nodesource's nodejs conflicts with Debian's separate npm package).
if ! command -v npm >/dev/null 2>&1; then
  quietly "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
fi

if ! command -v kubectl >/dev/null 2>&1; then
  echo "setup: warning: kubectl not found; the end-to-end tests that drive kubectl will be skipped" >&2
fi

# The CEL conformance suite and its reference evaluator come from npm, pinned by the lock file.
root=$(cd "$(dirname "$0")/.." && pwd)
if [[ -f "$root/tests/cel-conformance/package.json" ]]; then
  if [[ ! -d "$root/tests/cel-conformance/node_modules/@bufbuild/cel-spec" ]]; then
    echo "setup: installing the CEL conformance suite from npm"
    (cd "$root/tests/cel-conformance" && quietly npm ci --no-audit --no-fund --silent)
  fi
fi

# The partition map's browser test drives Debian's chromium with playwright-core (lock file).
if [[ -f "$root/tests/ui/package.json" && ! -d "$root/tests/ui/node_modules/playwright-core" ]]; then
  echo "setup: installing playwright-core for the browser test from npm"
  (cd "$root/tests/ui" && quietly npm ci --no-audit --no-fund --silent)
fi
