/**
 * The adapter list: every built-in kind is there, and the ones that import a client library are
 * loaded on their first job (lazyAdapter), once, with a failed load retried (docs/benchmarks.md,
 * "Agent memory").
 */
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { BUILT_IN_ADAPTERS, createAdapterRegistry, lazyAdapter } from '../../agent/adapters/index.js';
import { simulatedAdapter } from '../../agent/adapters/simulated/index.js';
import type { Adapter, AdapterContext } from '../../agent/adapters/types.js';
import { ADAPTER_BUG_MESSAGE, JobRunner } from '../../agent/runner.js';
import type { ClaimedJob } from '../../shared/contracts/gateway.js';

const log = pino({ level: 'silent' });
const ctx = {
  username: 'u',
  connection: {},
  host: 'h',
  signal: new AbortController().signal,
  log,
} as AdapterContext;

describe('built-in adapters', () => {
  it('lists every kind the agent enrolls with', () => {
    expect(BUILT_IN_ADAPTERS.map((a) => a.kind)).toEqual([
      'simulated',
      'service',
      'web',
      'workstation',
      'directory',
      'windows',
    ]);
  });

  it('a lazy built-in loads its module on the first job and answers as the adapter does', async () => {
    const web = BUILT_IN_ADAPTERS.find((a) => a.kind === 'web')!;
    const connection = { baseUrl: 'https://example.test', login: { steps: [] } };
    // No change workflow: the web adapter's own definite refusal, nothing sent.
    const attempt = await web.change({ ...ctx, connection }, 'a', 'b');
    expect(attempt).toMatchObject({ ok: false, reason: 'error', definite: true });
  });
});

describe('lazyAdapter', () => {
  it('loads once, on the first call, for concurrent calls too', async () => {
    let loads = 0;
    const adapter = lazyAdapter('simulated', () => {
      loads++;
      return Promise.resolve(simulatedAdapter as unknown as Adapter);
    });
    expect(loads).toBe(0);
    const sim = { ...ctx, connection: { latencyMs: 0, failRate: 0, failReason: 'error' } };
    const attempts = await Promise.all([adapter.verify(sim, 'p'), adapter.change(sim, 'p', 'q')]);
    expect(attempts).toEqual([{ ok: true }, { ok: true }]);
    await adapter.verify(sim, 'p');
    expect(loads).toBe(1);
  });

  it('a module that fails to load fails the job as an adapter error, and is tried again', async () => {
    let loads = 0;
    const adapter = lazyAdapter('simulated', () => {
      loads++;
      return loads === 1
        ? Promise.reject(new Error('cannot load'))
        : Promise.resolve(simulatedAdapter as unknown as Adapter);
    });
    const runner = new JobRunner(createAdapterRegistry([adapter]), log);
    const job: ClaimedJob = {
      jobId: `v-${randomUUID()}`,
      token: 'lock-token',
      kind: 'verify',
      credentialId: randomUUID(),
      attempt: 1,
      target: { id: randomUUID(), kind: 'simulated', host: 'h1', connection: {} },
      username: 'admin',
      password: 'pw',
    };
    const signal = new AbortController().signal;
    expect(await runner.run(job, signal)).toEqual({
      outcome: 'failed',
      reason: 'error',
      message: ADAPTER_BUG_MESSAGE,
    });
    expect(await runner.run(job, signal)).toEqual({ outcome: 'ok' });
    expect(loads).toBe(2);
  });
});
