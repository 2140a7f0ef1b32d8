#!/usr/bin/env bash
# Installs CongoDB for the MongoDB archive smoke test: the pure-TypeScript wire-compatible server
# shipped inside @push.rocks/smartmongo@2.2.0, whose own dependencies are installed by hand (the
# package as a whole does not install: two of its dependencies are missing from npm).
set -euo pipefail
cd "$(dirname "$0")"
npm install --no-audit --no-fund --silent
if [ ! -f congodb/index.js ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent @push.rocks/smartmongo@2.2.0 >/dev/null && tar xzf push.rocks-smartmongo-2.2.0.tgz)
  rm -rf congodb
  cp -r "$tmp/package/dist_ts/congodb" congodb
  rm -rf "$tmp"
fi
echo "congodb ready in $(pwd)/congodb"
