import { simulatedAdapter } from './simulated/index.js';
import type { Adapter } from './types.js';

export type { Adapter, AdapterContext, Attempt, AttemptReason } from './types.js';

/** Target kind → adapter. */
export type AdapterRegistry = ReadonlyMap<string, Adapter>;

/**
 * An adapter whose module (and the client library it pulls in: ssh2, pg, mysql2, ldapts, undici,
 * node-html-parser) is loaded on its first job, not at the agent's start: a site with one kind of
 * target keeps the others' code out of memory (docs/benchmarks.md, "Agent memory"). A module that
 * fails to load fails that job as an adapter error (the runner catches the throw) and is tried again
 * on the next one.
 */
export function lazyAdapter(kind: string, load: () => Promise<Adapter>): Adapter {
  let loading: Promise<Adapter> | undefined;
  const adapter = (): Promise<Adapter> => {
    loading ??= load().catch((err: unknown) => {
      loading = undefined;
      throw err;
    });
    return loading;
  };
  return {
    kind,
    verify: async (ctx, password) => (await adapter()).verify(ctx, password),
    change: async (ctx, current, next) => (await adapter()).change(ctx, current, next),
  };
}

/**
 * The adapters this agent ships with. A new kind adds its adapter here (agent/adapters/<kind>/),
 * loaded lazily when it imports a client library.
 */
export const BUILT_IN_ADAPTERS: readonly Adapter[] = [
  simulatedAdapter,
  lazyAdapter('service', async () => (await import('./service/index.js')).serviceAdapter as Adapter),
  lazyAdapter('web', async () => (await import('./web/index.js')).webAdapter as Adapter),
  lazyAdapter(
    'workstation',
    async () => (await import('./workstation/index.js')).workstationAdapter as Adapter,
  ),
  lazyAdapter('directory', async () => (await import('./directory/index.js')).directoryAdapter as Adapter),
  lazyAdapter('windows', async () => (await import('./windows/index.js')).windowsAdapter as Adapter),
];

export function createAdapterRegistry(adapters: readonly Adapter[] = BUILT_IN_ADAPTERS): AdapterRegistry {
  return new Map(adapters.map((a) => [a.kind, a]));
}
