#!/usr/bin/env node
import { isSyncError } from '../shared/errors.js';
import { loadCoordinatorConfig, type CoordinatorConfig } from './config.js';
import { startCoordinator } from './server.js';

async function main(): Promise<void> {
  let config: CoordinatorConfig;
  try {
    config = loadCoordinatorConfig();
  } catch (err) {
    console.error(`sync-coordinator: ${isSyncError(err) ? err.message : String(err)}`);
    process.exit(1);
  }
  const coordinator = await startCoordinator(config);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    coordinator.ctx.log.info({ signal }, 'coordinator stopping');
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    coordinator
      .close()
      .then(() => process.exit(0))
      .catch(() => process.exit(1));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(`sync-coordinator: failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
