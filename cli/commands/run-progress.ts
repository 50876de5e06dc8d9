import type { SyncRunView } from '../../shared/contracts/api.js';
import type { ApiClient } from '../client.js';
import { progressBar } from '../format.js';
import type { CommandContext } from './command.js';

/** A run just started: printed, or with --wait followed to its end (exit 3 unless it all succeeded). */
export async function finishRun(ctx: CommandContext, started: SyncRunView): Promise<number> {
  if (!ctx.flags.wait) {
    ctx.out(started, () => `sync run ${started.id} started: ${started.counts.impacted} credentials`);
    return 0;
  }
  const run = await waitForRun(ctx.api, started, !ctx.flags.json);
  ctx.out(run, () => `sync run ${run.id}: ${run.outcome} (${JSON.stringify(run.counts)})`);
  return run.outcome === 'success' ? 0 : 3;
}

/** Polls a run until it finishes, drawing a progress bar on stderr (redrawn in place on a terminal). */
export async function waitForRun(
  api: ApiClient,
  run: SyncRunView,
  showProgress: boolean,
): Promise<SyncRunView> {
  const tty = showProgress && process.stderr.isTTY;
  while (!run.finishedAt) {
    const c = run.counts;
    const done = c.success + c.failed + c.unsynced + c.partial;
    if (showProgress)
      process.stderr.write(
        `${tty ? '\r' : ''}${progressBar(done, c.impacted)} failed ${c.failed}${tty ? '' : '\n'}`,
      );
    await new Promise((r) => setTimeout(r, tty ? 250 : 2000));
    run = await api.call<SyncRunView>('GET', `/api/v1/sync-runs/${run.id}`);
  }
  if (showProgress) {
    const c = run.counts;
    process.stderr.write(`${tty ? '\r' : ''}${progressBar(c.impacted, c.impacted)} failed ${c.failed}\n`);
  }
  return run;
}
