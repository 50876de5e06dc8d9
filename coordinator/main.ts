#!/usr/bin/env node
import { isSyncError } from '../shared/errors.js';
import { loadCoordinatorConfig, type CoordinatorConfig } from './config.js';
import { startCoordinator } from './server.js';
import { rotateMasterKey } from './maintenance/rotate-master-key.js';
import { SecretBox } from '../shared/crypto.js';
import { connectDb } from './store/db.js';
import { migrate } from './store/migrations.js';

/** `sync-coordinator rotate-master-key`: re-wraps every data key under COORDINATOR_MASTER_KEY. */
async function runRotation(config: CoordinatorConfig): Promise<void> {
  if (config.previousMasterKeys.length === 0) {
    console.error('sync-coordinator: set COORDINATOR_PREVIOUS_MASTER_KEYS to the old key(s) to rotate from');
    process.exit(2);
  }
  const db = await connectDb(config);
  await migrate(db);
  const box = new SecretBox(config.masterKey, config.previousMasterKeys);
  const result = await rotateMasterKey(db, box, (p) => {
    process.stderr.write(`\r${p.table}: ${p.done} checked, ${p.rewrapped} re-wrapped   `);
  });
  process.stderr.write('\n');
  console.error(
    `sync-coordinator: master key rotated to ${box.keyId}: ${result.credentials} credentials and ${result.history} history entries re-wrapped` +
      (result.groups ? `, ${result.groups} group changes` : '') +
      (result.channels ? `, ${result.channels} notification channel secrets` : ''),
  );
  await db.close();
  process.exit(0);
}

async function main(): Promise<void> {
  let config: CoordinatorConfig;
  try {
    config = loadCoordinatorConfig();
  } catch (err) {
    console.error(`sync-coordinator: ${isSyncError(err) ? err.message : String(err)}`);
    process.exit(1);
  }
  if (process.argv[2] === 'rotate-master-key') {
    await runRotation(config);
    return;
  }
  if (process.argv[2] !== undefined) {
    console.error(`sync-coordinator: unknown command '${process.argv[2]}' (commands: rotate-master-key)`);
    process.exit(2);
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
