#!/usr/bin/env bash
# Installs every build and test dependency from Debian's packages. Idempotent: a second run
# only checks. Runs as root (CI, fresh containers) or through sudo.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git ca-certificates openssl
  libpq-dev libpqxx-dev libyaml-cpp-dev libhiredis-dev
  libboost1.81-dev libboost-system1.81-dev libboost-url1.81-dev libboost-json1.81-dev
  libboost-program-options1.81-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  postgresql-15 postgresql-client-15 postgresql-contrib pgbouncer redis-server redis-tools
  prometheus procps iproute2 util-linux jq
  clang-14 libclang-rt-14-dev  # the fuzz targets (libFuzzer, scripts/fuzz.sh)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
