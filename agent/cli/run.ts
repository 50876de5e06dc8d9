import { isSyncError } from '../../shared/errors.js';
import { createLogger } from '../../shared/logger.js';
import { Agent } from '../agent.js';
import { loadAgentConfig, plaintextWarning } from '../config.js';
import { describe, fail } from './output.js';

/**
 * Runs the agent until SIGTERM / SIGINT: it then finishes or hands back its jobs and exits 0 (1 if
 * that failed). A bad setting stops the start with its name on stderr, exit 1; so does a revoked
 * agent token, later.
 */
export async function runAgent(env: NodeJS.ProcessEnv): Promise<void> {
  let config;
  try {
    config = loadAgentConfig(env);
  } catch (err) {
    fail(describe(err));
  }
  const log = createLogger('sync-agent', config.logLevel);
  const plaintext = plaintextWarning(config.coordinatorUrl);
  if (plaintext !== undefined) log.warn({ coordinatorUrl: config.coordinatorUrl }, plaintext);
  const agent = new Agent({ config, log, onFatal: () => process.exit(1) });

  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
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
  };
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
    fail(describe(err));
  }
}
