import { createHash, createHmac, randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { ApiClient } from './client.js';
import { parseCsv } from './csv.js';
import { readText } from './input.js';
import { resolver, type Named } from './names.js';
import { DEFAULT_BATCH_SIZE, invalidReason, postInBatches } from './import-batch.js';
import { progressBar } from './format.js';

const COLUMNS = ['target', 'username', 'password', 'policy'] as const;
const REQUIRED = ['target', 'username', 'password'] as const;

export interface Rejected {
  line: number;
  reason: string;
}

export interface ImportReport {
  file: string;
  stateFile: string;
  rows: number;
  imported: number;
  /** Rows not created because they exist: done by a previous run (the state file) or found on the coordinator. */
  skipped: number;
  /** Of those, the ones the coordinator already had (409) though the state file did not say so. */
  existing: number;
  rejected: Rejected[];
}

/** The first state format: `<line> <sha256 of the row>`, the row's password included (read only, to resume). */
const legacyRowHash = (fields: string[]) =>
  createHash('sha256').update(JSON.stringify(fields)).digest('base64url').slice(0, 16);

const STATE_HEADER = /^# syncctl import-state v2 key=([\w-]{43})$/;

/**
 * The state file next to the CSV: a header with a random key, then one line `<line> <key of the
 * row>` appended per credential known to exist. A row's key is an HMAC (with that key) of its
 * target id and username, the credential's identity: never of its password, so the file gives
 * nothing to guess passwords against, and a row counts as done wherever it moves in the file.
 */
class ImportState {
  private constructor(
    readonly path: string,
    private readonly key: Buffer,
    private readonly done: Set<string>,
    /** Hashes of a first-format file, matched by row (then the file is rewritten in this format). */
    private readonly legacy: Map<number, string>,
  ) {}

  static load(path: string): ImportState {
    if (!existsSync(path)) return ImportState.fresh(path);
    const text = readFileSync(path, 'utf8');
    const lines = text.split('\n');
    // A crash while appending can leave half a line at the end: that row was not recorded.
    if (!text.endsWith('\n')) lines.pop();
    lines.splice(0, lines.length, ...lines.filter(Boolean));
    const header = STATE_HEADER.exec(lines[0] ?? '');
    if (header) {
      const done = new Set<string>();
      for (const entry of lines.slice(1)) {
        const m = /^\d+ ([\w-]{43})$/.exec(entry);
        if (!m) throw new Error(`${path} is not an import state file (delete it to start over)`);
        done.add(m[1]!);
      }
      return new ImportState(path, Buffer.from(header[1]!, 'base64url'), done, new Map());
    }
    const legacy = new Map<number, string>();
    for (const entry of lines) {
      const m = /^(\d+) ([\w-]+)$/.exec(entry);
      if (!m) throw new Error(`${path} is not an import state file (delete it to start over)`);
      legacy.set(Number(m[1]), m[2]!);
    }
    const state = ImportState.fresh(path);
    return new ImportState(path, state.key, state.done, legacy);
  }

  private static fresh(path: string): ImportState {
    return new ImportState(path, randomBytes(32), new Set(), new Map());
  }

  keyOf(targetId: string, username: string): string {
    return createHmac('sha256', this.key)
      .update(JSON.stringify([targetId.toLowerCase(), username]))
      .digest('base64url');
  }

  has(key: string, line: number, fields: string[]): boolean {
    if (this.done.has(key)) return true;
    // A first-format entry for this very row: done; it is kept under its new key.
    if (this.legacy.get(line) === legacyRowHash(fields)) {
      this.done.add(key);
      this.legacyLines.push(`${line} ${key}`);
      return true;
    }
    return false;
  }

  private readonly legacyLines: string[] = [];

  /** Before any row is imported: a first-format file is rewritten (its password hashes dropped). */
  begin(): void {
    if (this.legacy.size === 0 && existsSync(this.path)) return;
    const header = `# syncctl import-state v2 key=${this.key.toString('base64url')}\n`;
    try {
      writeFileSync(`${this.path}.tmp`, header + this.legacyLines.map((l) => `${l}\n`).join(''), {
        mode: 0o600,
      });
      renameSync(`${this.path}.tmp`, this.path);
    } catch (err) {
      // Before any row is sent: nothing was imported that a rerun could not find.
      throw new Error(
        `cannot write the import state file ${this.path} (--state): ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }

  /** Rows known to exist now: one append for a whole batch. */
  record(rows: { line: number; key: string }[]): void {
    if (rows.length === 0) return;
    for (const r of rows) this.done.add(r.key);
    appendFileSync(this.path, rows.map((r) => `${r.line} ${r.key}\n`).join(''), { mode: 0o600 });
  }
}

/**
 * `syncctl import FILE.csv`: creates one credential per row (columns target, username, password,
 * and optionally policy; target and policy by id or unique name) through POST
 * /api/v1/credentials/batch, `batchSize` rows to a request (import-batch.ts). Rows are checked here
 * first, then by the API, each on its own: a bad row is reported with its line number, never
 * stopping the others. Done rows are recorded in
 * FILE.csv.import-state, so running the same command again after an interruption or after
 * fixing rejected rows creates only what is missing.
 */
export async function importCredentials(
  api: ApiClient,
  file: string,
  opts: { progress: boolean; stateFile?: string; batchSize?: number },
): Promise<ImportReport> {
  const stateFile = opts.stateFile ?? `${file}.import-state`;
  const records = parseCsv(readText(file, file));
  const header = records.shift();
  if (!header) throw new Error(`${file} is empty: expected a header line ${COLUMNS.join(',')}`);
  const columns = header.fields.map((f) => f.trim().toLowerCase());
  const unknown = columns.filter((c) => !(COLUMNS as readonly string[]).includes(c));
  if (unknown.length) {
    throw new Error(
      `${file} line ${header.line}: unknown column(s) ${unknown.join(', ')}; expected ${COLUMNS.join(',')}`,
    );
  }
  const missing = REQUIRED.filter((c) => !columns.includes(c));
  if (missing.length) throw new Error(`${file} line ${header.line}: missing column(s) ${missing.join(', ')}`);
  const col = (name: string) => columns.indexOf(name);

  const state = ImportState.load(stateFile);
  const [targets, policies] = await Promise.all([
    allTargets(api),
    col('policy') >= 0
      ? api.call<{ items: Named[] }>('GET', '/api/v1/policies').catch(() => ({ items: [] as Named[] }))
      : Promise.resolve({ items: [] as Named[] }),
  ]);
  const target = resolver('target', targets);
  const policy = resolver('policy', policies.items);

  const report: ImportReport = {
    file,
    stateFile,
    rows: records.length,
    imported: 0,
    skipped: 0,
    existing: 0,
    rejected: [],
  };
  const reject = (line: number, reason: string) => report.rejected.push({ line, reason });
  const work: { line: number; key: string; body: Record<string, unknown> }[] = [];
  const seen = new Map<string, number>();

  for (const r of records) {
    if (r.fields.length !== columns.length) {
      reject(r.line, `${r.fields.length} fields, the header has ${columns.length}`);
      continue;
    }
    const get = (name: string) => (col(name) >= 0 ? r.fields[col(name)]! : '');
    const problems: string[] = [];
    const t = get('target').trim();
    const username = get('username').trim();
    const password = get('password');
    const p = get('policy').trim();
    let targetId: string | undefined;
    let policyId: string | undefined;
    if (!t) problems.push('target is empty');
    else {
      const id = target(t);
      if (typeof id === 'string') targetId = id;
      else problems.push(id.error);
    }
    if (!username) problems.push('username is empty');
    else if (username.length > 256) problems.push('username is longer than 256 characters');
    if (!password) problems.push('password is empty');
    else if (password.length > 1024) problems.push('password is longer than 1024 characters');
    if (p) {
      const id = policy(p);
      if (typeof id === 'string') policyId = id;
      else problems.push(id.error);
    }
    const key = targetId && username ? state.keyOf(targetId, username) : undefined;
    if (key) {
      const first = seen.get(key);
      if (first !== undefined) problems.push(`same target and username as line ${first}`);
      else seen.set(key, r.line);
    }
    if (problems.length || !key) {
      reject(r.line, problems.join('; '));
      continue;
    }
    if (state.has(key, r.line, r.fields)) {
      report.skipped++;
      continue;
    }
    work.push({
      line: r.line,
      key,
      body: { targetId, username, password, ...(policyId ? { policyId } : {}) },
    });
  }

  state.begin();
  const total = work.length;
  let sent = 0;
  const tty = opts.progress && process.stderr.isTTY;
  let lastPrinted = -1;
  const draw = (final = false) => {
    if (!opts.progress) return;
    const pct = total ? Math.floor((sent / total) * 10) : 10;
    if (!tty && !final && pct === lastPrinted) return;
    lastPrinted = pct;
    process.stderr.write(
      `${tty ? '\r' : ''}${progressBar(sent, total)} rejected ${report.rejected.length}${tty && !final ? '' : '\n'}`,
    );
  };
  draw();
  await postInBatches(
    api,
    work.map((w) => w.body),
    opts.batchSize ?? DEFAULT_BATCH_SIZE,
    (from, results) => {
      const done: { line: number; key: string }[] = [];
      for (const r of results) {
        const item = work[from + r.index]!;
        if (r.result === 'invalid') reject(item.line, invalidReason(r));
        else {
          // `exists`: the target has a credential with this username: created by an earlier run
          // whose state line was lost (it died between the answer and the append), or before this
          // import. Either way it exists; the row is done, not rejected.
          if (r.result === 'created') report.imported++;
          else {
            report.skipped++;
            report.existing++;
          }
          done.push(item);
        }
      }
      state.record(done);
      sent += results.length;
      draw();
    },
  );
  if (total && (tty || lastPrinted !== 10)) draw(true);
  report.rejected.sort((a, b) => a.line - b.line);
  return report;
}

/** Every target (the list is paged), for resolving names. */
async function allTargets(api: ApiClient): Promise<Named[]> {
  const items: Named[] = [];
  let cursor: string | null = null;
  do {
    const page: { items: Named[]; nextCursor?: string | null } = await api.call(
      'GET',
      `/api/v1/targets?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    items.push(...page.items);
    cursor = page.nextCursor ?? null;
  } while (cursor);
  return items;
}
