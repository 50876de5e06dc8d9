/**
 * The dashboard client takes its statuses, reasons, detail codes, version statuses, agent view and
 * the notification channels' vocabulary (webhook formats, SMTP security, delivery states, channel
 * and delivery views) from shared/ through the generated coordinator/dashboard/client/vocabulary.ts:
 * the file is what the generator writes now, and no other file of the client declares such a list of
 * its own.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { VOCABULARY_FILE, vocabulary } from '../../coordinator/dashboard/generate-vocabulary.js';
import { VERSION_STATUSES } from '../../shared/agent-versions.js';
import { DELIVERY_STATES, SMTP_SECURITIES, WEBHOOK_FORMATS } from '../../shared/contracts/alerts.js';
import { DETAIL_CODES, REASONS, STATUSES } from '../../shared/contracts/status.js';

const CLIENT = fileURLToPath(new URL('../../coordinator/dashboard/client', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

const LISTS = {
  STATUSES,
  REASONS,
  DETAIL_CODES,
  VERSION_STATUSES,
  WEBHOOK_FORMATS,
  SMTP_SECURITIES,
  DELIVERY_STATES,
};

/** The array literals and the union types (`'a' | 'b' | …`) of a source: where a list of codes would be. */
const listsIn = (text: string): string[] => [
  ...(text.match(/\[[^[\]]*\]/g) ?? []),
  ...(text.match(/(['"][a-z_]+['"]\s*\|\s*)+['"][a-z_]+['"]/g) ?? []),
];

describe('dashboard vocabulary', () => {
  it('is generated from shared/ and up to date (npm run vocabulary)', () => {
    expect(readFileSync(VOCABULARY_FILE, 'utf8')).toBe(vocabulary());
  });

  it('no other client file declares a status, reason, detail code or version status list, or the agent view', () => {
    const own = sources(CLIENT).filter((f) => f !== VOCABULARY_FILE);
    expect(own.length).toBeGreaterThan(5);
    for (const file of own) {
      const text = readFileSync(file, 'utf8');
      const name = relative(CLIENT, file);
      for (const [list, codes] of Object.entries(LISTS)) {
        for (const group of listsIn(text)) {
          const quoted = codes.filter((c) => new RegExp(`['"\`]${c}['"\`]`).test(group));
          expect(quoted.length, `${name} lists codes of ${list}: ${group.slice(0, 80)}`).toBeLessThan(3);
        }
        expect(text, name).not.toMatch(new RegExp(`\\b(const|let|var)\\s+${list}\\b`));
      }
      expect(text, name).not.toMatch(
        /\binterface\s+(Agent|Channel|Delivery)\b|\btype\s+(Agent|Channel|Delivery|Status|Reason)\s*=/,
      );
    }
  });

  it('the check finds a copy, as a list or as a union type', () => {
    const list = `const ORDER = [${STATUSES.map((s) => `'${s}'`).join(', ')}];`;
    const union = `type S = ${REASONS.map((s) => `'${s}'`).join(' | ')};`;
    expect(listsIn(list)).toHaveLength(1);
    expect(listsIn(union)).toHaveLength(1);
    expect(listsIn(`if (c.status === 'in_sync' || c.status === 'out_of_sync') go(['x']);`)).toEqual([
      "['x']",
    ]);
  });
});
