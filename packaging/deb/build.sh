#!/usr/bin/env bash
# Builds the sync-agent Debian package: dist/sync-agent_<version>_all.deb (see docs/agent-install.md).
#   bash packaging/deb/build.sh [--no-build] [--version X.Y.Z] [--out DIR] [--compress xz|gzip|zstd|none]
# Needs the repository's node_modules (npm ci) and dpkg-deb; downloads nothing: the agent is built
# with npm run build (unless --no-build) and its runtime npm packages are copied from node_modules.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=1
args=()
for arg in "$@"; do
  if [[ $arg == --no-build ]]; then build=0; else args+=("$arg"); fi
done
command -v dpkg-deb >/dev/null || { echo "build.sh: dpkg-deb is missing (apt-get install dpkg)" >&2; exit 1; }
[[ -d node_modules ]] || { echo "build.sh: node_modules is missing: run npm ci first" >&2; exit 1; }
if ((build)); then npm run build >&2; fi
exec node dist/packaging/deb/build.js "${args[@]}"
