/**
 * "Sync now" → visible status while a full verification run keeps the agents busy: probes press
 * Sync now on credentials the run has already verified (so the press queues a new job instead of
 * joining the run's), and time each one from the POST until the new result shows.
 */
import type { CredentialView, SyncRunView } from '../shared/contracts/api.js';
import type { Api } from '../tests/support/operator-client.js';
import { sleep } from '../tests/support/wait.js';

const PROBES = 4;

export interface UnderLoad {
  /** ms from the POST of each probe to its visible result. */
  samples: number[];
  /** ms from the run's POST to its finishedAt. */
  runMs: number;
  run: SyncRunView;
}

export async function syncNowUnderLoad(
  client: Api,
  candidates: string[],
  onProgress: (text: string) => void,
): Promise<UnderLoad> {
  const t0 = Date.now();
  const created = await client.post<SyncRunView>('/api/v1/sync-runs', { kind: 'verify', scope: {} });
  let finished: SyncRunView | undefined;
  const samples: number[] = [];
  let next = 0;
  const probe = async (): Promise<void> => {
    while (!finished) {
      const id = candidates[next++ % candidates.length]!;
      const before = await client.get<CredentialView>(`/api/v1/credentials/${id}`);
      const done = before.lastResultAt !== null && Date.parse(before.lastResultAt) >= t0;
      if (!done || before.job.state !== 'idle') {
        await sleep(20);
        continue;
      }
      const started = performance.now();
      await client.post(`/api/v1/credentials/${id}/verify`);
      for (;;) {
        const view = await client.get<CredentialView>(`/api/v1/credentials/${id}`);
        if (view.lastResultAt !== before.lastResultAt && view.job.state === 'idle') break;
        if (performance.now() - started > 600_000)
          throw new Error('sync now under load: no result in 10 min');
        await sleep(5);
      }
      // Only presses made while the run still went on count.
      if (!finished) samples.push(performance.now() - started);
    }
  };
  const watch = async (): Promise<void> => {
    for (;;) {
      const run = await client.get<SyncRunView>(`/api/v1/sync-runs/${created.id}`);
      if (run.finishedAt) {
        finished = run;
        return;
      }
      const c = run.counts;
      onProgress(
        `full run with Sync now probes: ${c.success + c.failed + c.unsynced + c.partial}/${c.impacted}, ${samples.length} probes`,
      );
      await sleep(50);
    }
  };
  await Promise.all([watch(), ...Array.from({ length: PROBES }, probe)]);
  return { samples, runMs: Date.parse(finished!.finishedAt!) - t0, run: finished! };
}
