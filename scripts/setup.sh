#!/usr/bin/env bash
# Installs everything Kiln needs on a fresh Debian 12 machine with Node 20, then builds it.
# Safe to run again: each step is idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: bubblewrap (function sandboxes), socat (Runtime API relay), the Debian AWS CLI and
# boto3 (the tests drive Kiln with them and check SigV4 against what they sign), zip (handy for
# packaging functions by hand).
packages=(bubblewrap socat awscli python3-boto3 zip)
# The aws-lambda-ric test fixture (test/support/ric-fixture.ts) compiles libcurl, aws-lambda-cpp and a
# Node addon when npm installs it, which needs these.
packages+=(autoconf automake libtool make cmake g++ python3)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]} with apt-get"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "setup: Kiln needs Node.js 20 or newer (found $(node --version))" >&2
  exit 1
fi

# better-sqlite3 compiles against Node's headers; point node-gyp at the installed ones so it never downloads them.
nodedir=$(npm config get nodedir 2>/dev/null || true)
if { [ -z "$nodedir" ] || [ "$nodedir" = undefined ] || [ "$nodedir" = null ]; } && [ -f /usr/include/node/node_api.h ]; then
  export npm_config_nodedir=/usr
fi

echo "setup: installing npm dependencies"
npm ci --no-audit --no-fund --loglevel=error
echo "setup: building"
npm run --silent build
echo "setup: done"
