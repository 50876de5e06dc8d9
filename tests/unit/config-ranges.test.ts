/**
 * docs/configuration.md "Allowed values" is the bounds the settings' schemas enforce
 * (coordinator/config.ts, agent/config.ts), written from them: UPDATE_CONFIG_DOCS=1 rewrites it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { CoordinatorEnvSchema } from '../../coordinator/config.js';
import { AgentEnvSchema } from '../../agent/config.js';

const DOC = new URL('../../docs/configuration.md', import.meta.url);
const START = '<!-- allowed-values: written by tests/unit/config-ranges.test.ts -->';
const END = '<!-- allowed-values end -->';

interface Bounded {
  def: { type: string; innerType?: Bounded; out?: Bounded };
  minValue?: number | null;
  maxValue?: number | null;
}

/** The number schema a setting ends in: through defaults, optionals and envInt's digits-then-number pipe. */
const unwrap = (s: Bounded): Bounded => {
  if ((s.def.type === 'default' || s.def.type === 'optional') && s.def.innerType)
    return unwrap(s.def.innerType);
  if (s.def.type === 'pipe' && s.def.out) return unwrap(s.def.out);
  return s;
};

const fmt = (n: number) => n.toLocaleString('en-US');

function rows(shape: Record<string, z.ZodType>): string[] {
  return Object.entries(shape).flatMap(([name, schema]) => {
    const s = unwrap(schema as unknown as Bounded);
    if (s.def.type !== 'number' || s.minValue == null || s.maxValue == null) return [];
    return [`| \`${name}\` | ${fmt(s.minValue)} – ${fmt(s.maxValue)} |`];
  });
}

function section(): string {
  return [
    START,
    '| variable | whole numbers from – to |',
    '| --- | --- |',
    ...rows(CoordinatorEnvSchema.shape),
    ...rows(AgentEnvSchema.shape),
    END,
  ].join('\n');
}

describe('docs/configuration.md allowed values', () => {
  it('gives the bounds of every numeric setting as the schemas enforce them', () => {
    const doc = readFileSync(DOC, 'utf8');
    const from = doc.indexOf(START);
    const to = doc.indexOf(END);
    expect(from, 'the section markers').toBeGreaterThan(0);
    const written = doc.slice(from, to + END.length);
    if (process.env.UPDATE_CONFIG_DOCS === '1' && written !== section())
      writeFileSync(DOC, doc.slice(0, from) + section() + doc.slice(to + END.length));
    else expect(written, 'run with UPDATE_CONFIG_DOCS=1 to rewrite').toBe(section());
    expect(section()).toContain('`JOB_LOCK_MS` | 5,000 – 600,000');
    expect(section()).toContain('`AGENT_CONCURRENCY` | 1 – 1,000');
  });
});
