import { appendFile, chmod, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ReportItemSchema, type ReportItem } from '../shared/contracts/gateway.js';
import { writeFileAtomic } from './atomic-file.js';

export const outboxPath = (stateDir: string): string => path.join(stateDir, 'outbox.jsonl');

/**
 * Results that could not be delivered yet, one report item (JSON) per line, mode 0600. Items hold
 * job ids, lock tokens and outcomes: never a password (outcomes carry none, see runner.ts).
 */
export class Outbox {
  constructor(readonly file: string) {}

  /** The stored items; lines that do not parse are skipped and counted. */
  async load(): Promise<{ items: ReportItem[]; skipped: number }> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { items: [], skipped: 0 };
      throw err;
    }
    const items: ReportItem[] = [];
    let skipped = 0;
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const parsed = ReportItemSchema.safeParse(parseLine(line));
      if (parsed.success) items.push(parsed.data);
      else skipped++;
    }
    return { items, skipped };
  }

  async append(items: readonly ReportItem[]): Promise<void> {
    if (items.length === 0) return;
    await appendFile(this.file, serialize(items), { mode: 0o600 });
    await chmod(this.file, 0o600);
  }

  /** Replaces the content with `items` (atomically): the delivered ones are gone. */
  async rewrite(items: readonly ReportItem[]): Promise<void> {
    await writeFileAtomic(this.file, serialize(items), 0o600);
  }
}

const serialize = (items: readonly ReportItem[]): string =>
  items.map((i) => `${JSON.stringify(i)}\n`).join('');

function parseLine(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}
