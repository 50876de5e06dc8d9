import { directoryAdapter } from './directory/index.js';
import { serviceAdapter } from './service/index.js';
import { simulatedAdapter } from './simulated/index.js';
import { webAdapter } from './web/index.js';
import { windowsAdapter } from './windows/index.js';
import type { Adapter } from './types.js';
import { workstationAdapter } from './workstation/index.js';

export type { Adapter, AdapterContext, Attempt, AttemptReason } from './types.js';

/** Target kind → adapter. */
export type AdapterRegistry = ReadonlyMap<string, Adapter>;

/** The adapters this agent ships with. A new kind adds its adapter here (agent/adapters/<kind>/). */
export const BUILT_IN_ADAPTERS: readonly Adapter[] = [
  simulatedAdapter,
  serviceAdapter,
  webAdapter,
  workstationAdapter,
  directoryAdapter,
  windowsAdapter,
];

export function createAdapterRegistry(adapters: readonly Adapter[] = BUILT_IN_ADAPTERS): AdapterRegistry {
  return new Map(adapters.map((a) => [a.kind, a]));
}
