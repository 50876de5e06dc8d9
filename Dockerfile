# syntax=docker/dockerfile:1
# One image for every binary: sync-coordinator (default), sync-agent, syncctl.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
# The windows adapter runs Samba's rpcclient (package smbclient; stdbuf is in coreutils).
RUN apt-get update \
  && apt-get install -y --no-install-recommends smbclient \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    PORT=8080 \
    DATA_DIR=/var/lib/sync-coordinator
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist

# Every package.json "bin" on PATH, as a wrapper (no shebang or execute bit needed in dist/); the
# agent's with its Node options (agent/node-flags.ts: a smaller V8 young generation).
RUN node -e ' \
  const fs = require("fs"); \
  const flags = { "sync-agent": "--max-semi-space-size=2 " }; \
  for (const [name, file] of Object.entries(require("./package.json").bin)) \
    fs.writeFileSync(`/usr/local/bin/${name}`, `#!/bin/sh\nexec node ${flags[name] ?? ""}/app/${file} "$@"\n`, { mode: 0o755 }); \
  ' \
  && mkdir -p /var/lib/sync-coordinator /var/lib/sync-agent \
  && chown node:node /var/lib/sync-coordinator /var/lib/sync-agent

# Scaled agents (compose replicas) share one volume but each needs a state dir of its own (its
# enrolled identity). Each takes the first slot folder no running agent holds (flock, held for the
# agent's life), so a re-created container takes over an enrolled identity instead of enrolling
# again. An explicit AGENT_STATE_DIR wins.
COPY --chmod=755 <<'EOF_SLOT' /usr/local/bin/sync-agent-slot
#!/bin/sh
set -eu
if [ -n "${AGENT_STATE_DIR:-}" ]; then exec sync-agent "$@"; fi
base="${AGENT_STATE_BASE:-/var/lib/sync-agent}"
i=1
while :; do
  dir="$base/slot-$i"
  mkdir -p "$dir"
  exec 9>"$dir/.lock"
  if flock -n 9; then break; fi
  exec 9>&-
  i=$((i + 1))
done
export AGENT_STATE_DIR="$dir"
exec sync-agent "$@"
EOF_SLOT

USER node
EXPOSE 8080
CMD ["sync-coordinator"]
