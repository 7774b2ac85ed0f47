#!/usr/bin/env bash
# Installs every build and test dependency from Debian's packages, plus the FalkorDB test
# server (valkey from bookworm-backports, the module from npm). Idempotent: a second run
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

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
warn() { echo "install-deps: warning: $*" >&2; }

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- FalkorDB test server (optional: its tests skip without it) --------------------------
# FalkorDB 4.16 needs a Redis-protocol server >= 7.2: valkey-server 8 from bookworm-backports
# (same mirror as the machine's bookworm entry) with the module from an npm package pinned here.
# The official JavaScript client (`falkordb` on npm) is scripts/bench.sh's reference peer.
FALKORDB_NPM=(@falkordblite/linux-x64@8.2.3-falkordb.4.16.3 falkordb@6.6.2)
TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.run/tools"
backports=/etc/apt/sources.list.d/connmgr-bookworm-backports.sources

# valkey-tools (valkey-cli) drives the Sentinel and Cluster topologies of scripts/services.sh.
backports_missing=()
for p in valkey-server valkey-tools; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || backports_missing+=("$p")
done
if [ ${#backports_missing[@]} -gt 0 ]; then
  if [ ! -f "$backports" ]; then
    uri=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    if [ -n "$uri" ]; then
      printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' \
        "$uri" /usr/share/keyrings/debian-archive-keyring.gpg | $SUDO tee "$backports" >/dev/null
    else
      warn "no URIs in /etc/apt/sources.list.d/debian.sources; cannot add bookworm-backports"
    fi
  fi
  echo "install-deps: installing ${backports_missing[*]} from bookworm-backports"
  if ! { $SUDO apt-get update -qq &&
         $SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports "${backports_missing[@]}" >/dev/null; }; then
    warn "${backports_missing[*]} not installed: FalkorDB, Sentinel and Cluster tests will be skipped"
  fi
fi

module="$TOOLS/node_modules/@falkordblite/linux-x64/bin/falkordb.so"
installed=$(cat "$TOOLS/.falkordb-version" 2>/dev/null || true)
if [ -s "$module" ] && [ "$installed" = "${FALKORDB_NPM[*]}" ]; then
  echo "install-deps: FalkorDB module and client present (${FALKORDB_NPM[*]})"
elif ! command -v npm >/dev/null; then
  warn "npm not found: cannot fetch ${FALKORDB_NPM[*]}; FalkorDB tests will be skipped"
else
  echo "install-deps: fetching ${FALKORDB_NPM[*]} into $TOOLS"
  mkdir -p "$TOOLS"
  if npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error "${FALKORDB_NPM[@]}" >/dev/null &&
     [ -s "$module" ]; then
    echo "${FALKORDB_NPM[*]}" > "$TOOLS/.falkordb-version"
  else
    warn "${FALKORDB_NPM[*]} did not install: FalkorDB tests will be skipped"
  fi
fi
echo "install-deps: done"
