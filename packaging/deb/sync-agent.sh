#!/bin/sh
# /usr/bin/sync-agent, installed by the sync-agent Debian package: the agent's commands
# (run, enroll, doctor, version; sync-agent help). enroll and doctor read and write the service's
# configuration file and check the account the service runs as.
export SYNC_AGENT_CONFIG="${SYNC_AGENT_CONFIG:-/etc/sync-agent/agent.env}"
export SYNC_AGENT_USER="${SYNC_AGENT_USER:-sync-agent}"
# --max-semi-space-size=2: the agent's Node options, as the service unit's ExecStart.
exec /usr/bin/node --max-semi-space-size=2 /usr/lib/sync-agent/dist/agent/main.js "$@"
