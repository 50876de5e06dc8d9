import { z } from 'zod';
import { ReasonSchema } from '../contracts/status.js';
import type { TargetKindSpec } from './spec.js';

/** A target with no network, for demos and benchmarks. */
export const SimulatedConnectionSchema = z.strictObject({
  /** Time each operation takes, in ms. */
  latencyMs: z.number().int().min(0).max(60_000).default(0),
  /** Probability (0..1) that an operation fails with `failReason`. */
  failRate: z.number().min(0).max(1).default(0),
  failReason: ReasonSchema.exclude(['stale', 'change_outcome_unknown']).default('mismatch'),
  /** Host name used for the per-host session limit. */
  host: z.string().min(1).max(253).default('simulated'),
  /** Capabilities, to show every status in demos and tests. */
  canVerify: z.boolean().default(true),
  canChange: z.boolean().default(true),
  changeConfigured: z.boolean().default(true),
  /** Password limits the simulated target declares (policies must suit them). */
  maxPasswordLength: z.number().int().min(1).max(1024).optional(),
  forbiddenCharacters: z.string().max(200).optional(),
});
export type SimulatedConnection = z.infer<typeof SimulatedConnectionSchema>;

export const simulatedSpec: TargetKindSpec<typeof SimulatedConnectionSchema> = {
  kind: 'simulated',
  connectionSchema: SimulatedConnectionSchema,
  host: (c) => c.host,
  // No network, but its host is what the API's rule is about (docs/api.md: changing a target's host
  // needs admin), for every kind alike.
  routing: (c) => ({ host: c.host }),
  capabilities: (c) => ({ verify: c.canVerify, change: c.canChange, changeConfigured: c.changeConfigured }),
  passwordConstraints: (c) => ({
    ...(c.maxPasswordLength === undefined ? {} : { maxLength: c.maxPasswordLength }),
    ...(c.forbiddenCharacters === undefined ? {} : { forbidden: c.forbiddenCharacters }),
  }),
};
