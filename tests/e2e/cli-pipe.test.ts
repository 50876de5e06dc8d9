/**
 * The real `syncctl` binary writes all of its output before it exits, however slowly the program it
 * is piped into reads: `syncctl credentials list --all --json | …` used to stop at 64-128 KiB and
 * exit 0 (2,035 credentials came through as 390 lines). Against a real coordinator process with
 * 10,000 credentials, syncctl's stdout (or stderr) is a real pipe into `(sleep 1; cat)`: nothing is
 * read for a second. Also: exit codes stay right, and a reader that stops early (`| head`) ends
 * syncctl quietly.
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CredentialView } from '../../shared/contracts/api.js';
import { masterKeyFromBase64, SecretBox } from '../../shared/crypto.js';
import { ADMIN_TOKEN, newMasterKey } from '../support/coordinator.js';
import { createSite, createTarget } from '../support/fixtures.js';
import { api } from '../support/http.js';
import { REPO_ROOT } from '../support/paths.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { startCoordinator, stopAll, type CoordinatorProcess } from '../support/processes.js';
import { uniquePrefix } from '../support/redis.js';

const ROWS = 10_000;
const run = promisify(execFile);

let database: TestDatabase;
let coordinator: CoordinatorProcess;
const ids = new Set<string>();

beforeAll(async () => {
  database = await createTestDatabase('cli-pipe');
  const masterKey = newMasterKey();
  coordinator = await startCoordinator(
    {
      DATABASE_URL: database.url,
      REDIS_URL: inject('redisUrl'),
      QUEUE_PREFIX: uniquePrefix('cli-pipe'),
      COORDINATOR_ADMIN_TOKEN: ADMIN_TOKEN,
      COORDINATOR_MASTER_KEY: masterKey,
    },
    { label: 'cli-pipe-coordinator' },
  );
  const admin = api(`${coordinator.url}/api/v1`, ADMIN_TOKEN);
  const siteId = (await createSite(admin)).id;
  const targetId = await createTarget(admin, siteId, {}, 'bulk');
  // 10,000 credentials in one statement (through the API it takes minutes), sealed as the coordinator
  // seals them, sync off (nothing to schedule): the coordinator lists them like any others.
  const box = new SecretBox(masterKeyFromBase64(masterKey));
  const rows = Array.from({ length: ROWS }, (_, i) => {
    const id = randomUUID();
    ids.add(id);
    return { id, username: `bulk-${String(i).padStart(5, '0')}`, secret: box.seal(`pw-${i}`, id, 'secret') };
  });
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    await client.query(
      `INSERT INTO credentials (id, target_id, site_id, username, sync_enabled, secret, status)
       SELECT id, $1, $2, username, false, secret, 'not_synced'
         FROM unnest($3::uuid[], $4::text[], $5::text[]) AS r(id, username, secret)`,
      [targetId, siteId, rows.map((r) => r.id), rows.map((r) => r.username), rows.map((r) => r.secret)],
    );
  } finally {
    await client.end();
  }
}, 180_000);

afterAll(async () => {
  await stopAll();
  await database?.drop();
});

interface Piped {
  /** syncctl's exit code. */
  code: number;
  /** What the reader got. */
  read: string;
  /** syncctl's other stream. */
  other: string;
}

/**
 * Runs syncctl with its stdout (or stderr) piped into `reader`, a shell command, and returns what the
 * reader printed and syncctl's own exit code (not the reader's).
 */
async function piped(args: string[], opts: { stream?: 'stdout' | 'stderr'; reader?: string } = {}) {
  const cli = join(REPO_ROOT, 'dist/cli/main.js');
  const redirect = opts.stream === 'stderr' ? '2>&1 >/dev/null' : '';
  const script = `"${process.execPath}" "$0" "$@" ${redirect} | ${opts.reader ?? '(sleep 1; cat)'}; exit "\${PIPESTATUS[0]}"`;
  const argv = ['-c', script, cli, '--url', coordinator.url, '--token', ADMIN_TOKEN, ...args];
  try {
    const { stdout, stderr } = await run('bash', argv, { maxBuffer: 256 * 1024 * 1024, timeout: 120_000 });
    return { code: 0, read: stdout, other: stderr } satisfies Piped;
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, read: e.stdout ?? '', other: e.stderr ?? '' } satisfies Piped;
  }
}

describe('syncctl into a slow pipe', () => {
  it('--json: every one of 10,000 credentials, as one JSON document, exit 0', async () => {
    const r = await piped(['--json', 'credentials', 'list', '--all']);
    expect(r.code, r.other).toBe(0);
    expect(r.read.length).toBeGreaterThan(1024 * 1024);
    const body = JSON.parse(r.read) as { items: CredentialView[]; nextCursor: string | null };
    expect(body.items).toHaveLength(ROWS);
    expect(new Set(body.items.map((c) => c.id))).toEqual(ids);
    expect(body.nextCursor).toBeNull();
  });

  it('a table: a line per credential, exit 0', async () => {
    const r = await piped(['credentials', 'list', '--all']);
    expect(r.code, r.other).toBe(0);
    const lines = r.read.trimEnd().split('\n');
    const names = lines.flatMap((l) => /\bbulk-\d{5}\b/.exec(l) ?? []);
    expect(names).toHaveLength(ROWS);
    expect(new Set(names).size).toBe(ROWS);
  });

  it('errors on stderr arrive whole, with their exit codes (2 refused by the API, 1 usage)', async () => {
    const refused = await piped(['credentials', 'get', randomUUID()], { stream: 'stderr' });
    expect(refused.code).toBe(2);
    expect(refused.read).toMatch(/^syncctl: .*\(NOT_FOUND, HTTP 404\)\n$/);
    const long = `x-${randomBytes(60_000).toString('hex')}`; // a 120 KB message (one argument holds 128 KiB), more than a pipe holds
    const unknown = await piped(['credentials', long], { stream: 'stderr' });
    expect(unknown.code).toBe(1);
    expect(unknown.read).toBe(`syncctl: unknown command 'credentials ${long}' (see syncctl --help)\n`);
  });

  it('a reader that stops early ends syncctl quietly, with its own exit code', async () => {
    const r = await piped(['--json', 'credentials', 'list', '--all'], { reader: 'head -c 1000' });
    expect(r.read).toHaveLength(1000);
    expect(r.code).toBe(0);
    expect(r.other).toBe(''); // no EPIPE stack trace
  });

  it('an export into a reader that stops early ends quietly too (it printed write EPIPE, exit 1)', async () => {
    const r = await piped(['credentials', 'export'], { reader: 'head -c 1000' });
    expect(r.read).toHaveLength(1000);
    expect(r.other).toBe('');
    expect(r.code).toBe(0);
  });
});
