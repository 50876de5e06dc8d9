import { join } from 'node:path';
import { z } from 'zod';
import { REPO_ROOT } from './paths.js';

/** The test-only agent entry that kills itself at a fault point (fault-agent.ts, built). */
export const FAULT_AGENT_SCRIPT = join(REPO_ROOT, 'dist', 'tests', 'support', 'fault-agent.js');

/** Where in a change the fault agent kills itself. */
export const FAULT_POINTS = ['before-change', 'after-change'] as const;
export type FaultPoint = (typeof FAULT_POINTS)[number];

/** The line the fault agent writes to stderr just before it kills itself. */
export const FaultLineSchema = z.object({
  msg: z.literal('fault injected'),
  point: z.enum(FAULT_POINTS),
  /** The target accounts whose change was at the point. */
  accounts: z.array(z.string()),
  count: z.number().int(),
});
export type FaultLine = z.infer<typeof FaultLineSchema>;
