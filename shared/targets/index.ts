import { z } from 'zod';
import { SyncError } from '../errors.js';
import { parseOrThrow } from '../validation.js';
import { directorySpec } from './directory.js';
import { serviceSpec } from './service.js';
import { simulatedSpec } from './simulated.js';
import { webSpec } from './web.js';
import { windowsSpec } from './windows.js';
import { workstationSpec } from './workstation.js';
import type { Capabilities, TargetKindSpec } from './spec.js';

export type { Capabilities, TargetKindSpec } from './spec.js';

/** Every kind of the contract. A kind without a spec here is refused at target creation. */
export const TARGET_KINDS = ['workstation', 'service', 'web', 'directory', 'windows', 'simulated'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];
export const TargetKindSchema = z.enum(TARGET_KINDS);

const specs = new Map<string, TargetKindSpec>([
  [simulatedSpec.kind, simulatedSpec as unknown as TargetKindSpec],
  [serviceSpec.kind, serviceSpec as unknown as TargetKindSpec],
  [webSpec.kind, webSpec as unknown as TargetKindSpec],
  [workstationSpec.kind, workstationSpec as unknown as TargetKindSpec],
  [directorySpec.kind, directorySpec as unknown as TargetKindSpec],
  [windowsSpec.kind, windowsSpec as unknown as TargetKindSpec],
]);

export function targetSpec(kind: string): TargetKindSpec {
  const spec = specs.get(kind);
  if (!spec) {
    throw new SyncError('VALIDATION_FAILED', `kind: no adapter for target kind '${kind}' in this version`, {
      issues: [{ field: 'kind', message: `no adapter for target kind '${kind}' in this version` }],
    });
  }
  return spec;
}

export const isSupportedKind = (kind: string): boolean => specs.has(kind);

/** Validates a target's connection for its kind, with defaults applied. */
export function parseConnection(kind: string, connection: unknown): Record<string, unknown> {
  return parseOrThrow(targetSpec(kind).connectionSchema, connection, 'connection') as Record<string, unknown>;
}

/** Capabilities worked out lately, by kind and connection text. */
const capabilitiesSeen = new Map<string, Readonly<Capabilities>>();
const CAPABILITIES_SEEN_MAX = 1_000;

/**
 * What a target's adapter can do with its connection. Every status refresh asks (each verification's
 * result, each queued job), and parsing the connection is most of the cost (a web target's whole
 * workflow): answers are kept by kind and connection text, up to CAPABILITIES_SEEN_MAX of them (all
 * forgotten at once when full; an edited connection is another text, so it never gets a stale answer).
 */
export function capabilitiesOf(kind: string, connection: unknown): Readonly<Capabilities> {
  const spec = specs.get(kind);
  if (!spec) return { verify: false, change: false, changeConfigured: false };
  const key = `${kind}\n${JSON.stringify(connection)}`;
  let caps = capabilitiesSeen.get(key);
  if (caps === undefined) {
    caps = Object.freeze(spec.capabilities(spec.connectionSchema.parse(connection)));
    if (capabilitiesSeen.size >= CAPABILITIES_SEEN_MAX) capabilitiesSeen.clear();
    capabilitiesSeen.set(key, caps);
  }
  return caps;
}
