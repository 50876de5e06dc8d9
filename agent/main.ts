#!/usr/bin/env node
/** sync-agent: the agent process. Config from the environment (see config.ts). */
import { isSyncError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { Agent } from './agent.js';
import { loadAgentConfig, plaintextWarning, type AgentConfig } from './config.js';

function exitWith(message: string): never {
  console.error(`sync-agent: ${message}`);
  process.exit(1);
}

const describe = (err: unknown): string => (err instanceof Error ? err.message : String(err));

let config: AgentConfig;
try {
  config = loadAgentConfig();
} catch (err) {
  exitWith(describe(err));
}

const log = createLogger('sync-agent', config.logLevel);
const plaintext = plaintextWarning(config.coordinatorUrl);
if (plaintext !== undefined) log.warn({ coordinatorUrl: config.coordinatorUrl }, plaintext);
const agent = new Agent({ config, log, onFatal: () => process.exit(1) });

let stopping = false;
function onSignal(signal: NodeJS.Signals): void {
  if (stopping) {
    log.info({ signal }, 'already stopping');
    return;
  }
  stopping = true;
  log.info({ signal }, 'signal received: stopping');
  agent.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      log.error({ err: describe(err) }, 'graceful stop failed');
      process.exit(1);
    },
  );
}
process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);
process.on('unhandledRejection', (reason) => {
  log.fatal({ err: describe(reason) }, 'unhandled rejection');
  process.exit(1);
});

try {
  await agent.start();
} catch (err) {
  log.error({ code: isSyncError(err) ? err.code : undefined, err: describe(err) }, 'agent failed to start');
  exitWith(describe(err));
}
