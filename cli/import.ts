import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import type { ApiClient } from './client.js';
import { ApiError } from './client.js';
import { parseCsv } from './csv.js';
import { progressBar } from './format.js';

const COLUMNS = ['target', 'username', 'password', 'policy'] as const;
const REQUIRED = ['target', 'username', 'password'] as const;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PARALLEL = 8;

export interface Rejected {
  line: number;
  reason: string;
}

export interface ImportReport {
  file: string;
  stateFile: string;
  rows: number;
  imported: number;
  /** Rows a previous run of this import already created (from the state file). */
  skipped: number;
  rejected: Rejected[];
}

const rowHash = (fields: string[]) =>
  createHash('sha256').update(JSON.stringify(fields)).digest('base64url').slice(0, 16);

/**
 * The state file next to the CSV: one line `<line number> <hash of the row>` appended per row
 * created, so an interruption at any point loses nothing, and an edited row is tried again.
 */
function loadState(path: string): Map<number, string> {
  const done = new Map<number, string>();
  if (!existsSync(path)) return done;
  for (const entry of readFileSync(path, 'utf8').split('\n')) {
    if (!entry) continue;
    const m = /^(\d+) ([\w-]+)$/.exec(entry);
    if (!m) throw new Error(`${path} is not an import state file (delete it to start over)`);
    done.set(Number(m[1]), m[2]!);
  }
  return done;
}

interface Named {
  id: string;
  name: string;
}

/** Resolves an id or a unique name to an id, or says why it cannot. */
function resolver(kind: string, items: Named[]): (value: string) => string | { error: string } {
  const byId = new Set(items.map((i) => i.id.toLowerCase()));
  const byName = new Map<string, string[]>();
  for (const i of items) byName.set(i.name, [...(byName.get(i.name) ?? []), i.id]);
  return (value) => {
    if (UUID.test(value))
      return byId.has(value.toLowerCase()) ? value : { error: `no ${kind} with id ${value}` };
    const ids = byName.get(value) ?? [];
    if (ids.length === 1) return ids[0]!;
    if (ids.length === 0) return { error: `no ${kind} named '${value}'` };
    return { error: `${ids.length} ${kind}s are named '${value}' (on different sites): use the id` };
  };
}

/**
 * `syncctl import FILE.csv`: creates one credential per row (columns target, username, password,
 * and optionally policy; target and policy by id or unique name). Rows are checked one by one and
 * a bad row is reported with its line number, never stopping the others. Done rows are recorded in
 * FILE.csv.import-state, so running the same command again after an interruption or after
 * fixing rejected rows creates only what is missing.
 */
export async function importCredentials(
  api: ApiClient,
  file: string,
  opts: { progress: boolean; stateFile?: string },
): Promise<ImportReport> {
  const stateFile = opts.stateFile ?? `${file}.import-state`;
  const records = parseCsv(readFileSync(file, 'utf8'));
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

  const state = loadState(stateFile);
  const [targets, policies] = await Promise.all([
    api.call<{ items: Named[] }>('GET', '/api/v1/targets'),
    col('policy') >= 0
      ? api.call<{ items: Named[] }>('GET', '/api/v1/policies').catch(() => ({ items: [] as Named[] }))
      : Promise.resolve({ items: [] as Named[] }),
  ]);
  const target = resolver('target', targets.items);
  const policy = resolver('policy', policies.items);

  const report: ImportReport = {
    file,
    stateFile,
    rows: records.length,
    imported: 0,
    skipped: 0,
    rejected: [],
  };
  const reject = (line: number, reason: string) => report.rejected.push({ line, reason });
  const work: { line: number; hash: string; body: Record<string, unknown> }[] = [];
  const seen = new Map<string, number>();

  for (const r of records) {
    const hash = rowHash(r.fields);
    if (state.get(r.line) === hash) {
      report.skipped++;
      continue;
    }
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
    if (targetId && username) {
      const key = `${targetId}\n${username}`;
      const first = seen.get(key);
      if (first !== undefined) problems.push(`same target and username as line ${first}`);
      else seen.set(key, r.line);
    }
    if (problems.length) {
      reject(r.line, problems.join('; '));
      continue;
    }
    work.push({
      line: r.line,
      hash,
      body: { targetId, username, password, ...(policyId ? { policyId } : {}) },
    });
  }

  const total = work.length;
  let done = 0;
  const tty = opts.progress && process.stderr.isTTY;
  let lastPrinted = -1;
  const draw = (final = false) => {
    if (!opts.progress) return;
    const pct = total ? Math.floor((done / total) * 10) : 10;
    if (!tty && !final && pct === lastPrinted) return;
    lastPrinted = pct;
    process.stderr.write(
      `${tty ? '\r' : ''}${progressBar(done, total)} rejected ${report.rejected.length}${tty && !final ? '' : '\n'}`,
    );
  };
  draw();
  const next = { i: 0 };
  const worker = async () => {
    while (next.i < work.length) {
      const item = work[next.i++]!;
      try {
        await api.call('POST', '/api/v1/credentials', item.body);
        report.imported++;
        appendFileSync(stateFile, `${item.line} ${item.hash}\n`, { mode: 0o600 });
      } catch (err) {
        if (
          err instanceof ApiError &&
          err.status < 500 &&
          err.status !== 401 &&
          err.status !== 403 &&
          err.status !== 429
        ) {
          reject(item.line, err.message);
        } else {
          // The server or the token failed, not the row: stop here; a rerun resumes.
          throw err;
        }
      }
      done++;
      draw();
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, Math.max(1, work.length)) }, worker));
  if (total && (tty || lastPrinted !== 10)) draw(true);
  report.rejected.sort((a, b) => a.line - b.line);
  return report;
}
