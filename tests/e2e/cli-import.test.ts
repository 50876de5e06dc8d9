/**
 * The real `syncctl` binary (dist/cli) against a real coordinator and agent: `import` (through POST
 * /credentials/batch) with good and bad rows, bad ones found here or by the API (report with line
 * numbers, exit 3, resumable), `sync --site --wait` exit codes, --json.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { CredentialView } from '../../shared/contracts/api.js';
import { startStack, type Stack } from '../browser/stack.js';
import { ADMIN_TOKEN } from '../support/coordinator.js';
import {
  createCredential,
  createEnrollmentToken,
  createSite,
  createTarget,
  expectStatus,
} from '../support/fixtures.js';
import { runCli, startAgent } from '../support/processes.js';

let stack: Stack;
let dir: string;
let targetId: string;
const cli = (...args: string[]) =>
  runCli(['--url', stack.coordinator.url, '--token', ADMIN_TOKEN, ...args], {}, 60_000);

beforeAll(async () => {
  stack = await startStack('cli');
  dir = mkdtempSync(join(tmpdir(), 'cli-import-'));
  targetId = await createTarget(stack.admin, stack.siteId, {}, 'cli-fileserver');
}, 120_000);

afterAll(async () => {
  await stack?.close();
});

it('imports a CSV in batches, reports bad rows with their line, and resumes', async () => {
  const csv = join(dir, 'credentials.csv');
  writeFileSync(
    csv,
    [
      'target,username,password',
      'cli-fileserver,alice,"pa,ss""word"',
      `${targetId},bob,secret-2`,
      'no-such-target,carol,secret-3',
      'cli-fileserver,,secret-4',
      'cli-fileserver,dave',
      'cli-fileserver,alice,again',
      'cli-fileserver,erin,secret-5',
      '',
    ].join('\n'),
  );
  const first = await cli('import', csv);
  expect(first.code, first.stderr).toBe(3);
  expect(first.stdout).toContain('imported 3');
  expect(first.stdout).toMatch(/4\s+no target named 'no-such-target'/);
  expect(first.stdout).toMatch(/5\s+username is empty/);
  expect(first.stdout).toMatch(/6\s+2 fields, the header has 3/);
  expect(first.stdout).toMatch(/7\s+same target and username as line 2/);
  expect(first.stderr).toContain('3/3 100%');

  const list = await expectStatus<{ items: CredentialView[] }>(
    stack.admin.get(`/credentials?targetId=${targetId}&sort=username`),
    200,
  );
  expect(list.items.map((c) => c.username)).toEqual(['alice', 'bob', 'erin']);
  const alice = list.items[0]!;
  const password = await expectStatus<{ password: string }>(
    stack.admin.get(`/credentials/${alice.id}/password`),
    200,
  );
  expect(password.password).toBe('pa,ss"word');
  // A header with the state's key, then one line per credential created.
  const state = readFileSync(`${csv}.import-state`, 'utf8').trim().split('\n');
  expect(state[0]).toMatch(/^# syncctl import-state v2 key=/);
  expect(state).toHaveLength(4);

  // Fix a row and run the same command again: only what is missing is created.
  writeFileSync(
    csv,
    readFileSync(csv, 'utf8').replace('cli-fileserver,,secret-4', 'cli-fileserver,frank,secret-4'),
  );
  const second = await cli('--json', 'import', csv);
  expect(second.code).toBe(3);
  const report = JSON.parse(second.stdout) as {
    imported: number;
    skipped: number;
    rejected: { line: number }[];
  };
  expect(report.imported).toBe(1);
  expect(report.skipped).toBe(3);
  expect(report.rejected.map((r) => r.line)).toEqual([4, 6, 7]);
});

it('resumes after being killed mid-import: rows the coordinator already has are done, not rejected', async () => {
  // A site of its own (no agent): the sync test below counts the credentials of the stack's site.
  const { id: bulkSite } = await createSite(stack.admin, 'cli-bulk-site');
  const target = await createTarget(stack.admin, bulkSite, {}, 'cli-bulk');
  const csv = join(dir, 'bulk.csv');
  const rows = Array.from({ length: 240 }, (_, i) => `cli-bulk,bulk-${String(i).padStart(3, '0')},pw-${i}-x`);
  writeFileSync(csv, ['target,username,password', ...rows, ''].join('\n'));
  // Killed (SIGKILL) once about a fifth is through: up to 2 batches of 20 are in flight at that moment.
  const killed = await runCli(
    ['--url', stack.coordinator.url, '--token', ADMIN_TOKEN, 'import', csv, '--batch-size', '20'],
    {},
    60_000,
    (stderr) => /\/240 ([2-9]\d|100)%/.test(stderr),
  );
  expect(killed.code).toBeNull();
  // The moment a crash can fall in: the coordinator created a row, the state file never heard of it.
  const statePath = `${csv}.import-state`;
  const lines = readFileSync(statePath, 'utf8').trim().split('\n');
  expect(lines.length).toBeGreaterThan(5);
  writeFileSync(statePath, `${lines.slice(0, -4).join('\n')}\n`);
  // A done row whose password was edited in the file since is still done (its key is target + username).
  writeFileSync(csv, readFileSync(csv, 'utf8').replace('bulk-000,pw-0-x', 'bulk-000,edited'));

  const resumed = await cli('--json', 'import', csv);
  expect(resumed.code, resumed.stderr).toBe(0);
  const report = JSON.parse(resumed.stdout) as {
    imported: number;
    skipped: number;
    existing: number;
    rejected: unknown[];
  };
  expect(report.rejected).toEqual([]);
  expect(report.imported + report.skipped).toBe(240);
  expect(report.existing).toBeGreaterThanOrEqual(4);
  const created = await expectStatus<{ items: CredentialView[] }>(
    stack.admin.get(`/credentials?targetId=${target}&limit=500`),
    200,
  );
  expect(created.items.map((c) => c.username).sort()).toEqual(rows.map((r) => r.split(',')[1]).sort());
  const state = readFileSync(statePath, 'utf8').trim().split('\n');
  expect(new Set(state.slice(1).map((l) => l.split(' ')[1])).size).toBe(240);
  // Nothing in it derives from a password: the keys do not change when only passwords do.
  for (const line of state.slice(1)) expect(line).toMatch(/^\d+ [\w-]{43}$/);

  const again = await cli('--json', 'import', csv);
  expect(JSON.parse(again.stdout)).toMatchObject({ imported: 0, skipped: 240, existing: 0, rejected: [] });
});

it('reads a state file of the first format (row hashes) and rewrites it without them', async () => {
  const { id: legacySite } = await createSite(stack.admin, 'cli-legacy-site');
  await createTarget(stack.admin, legacySite, {}, 'cli-legacy');
  const csv = join(dir, 'legacy.csv');
  writeFileSync(csv, 'target,username,password\ncli-legacy,old-1,pw-1\ncli-legacy,old-2,pw-2\n');
  const first = await cli('--json', 'import', csv, '--state', join(dir, 'scratch.state'));
  expect(JSON.parse(first.stdout)).toMatchObject({ imported: 2 });
  // What an older syncctl wrote for these two rows: line number and a hash of the row.
  const legacyHash = (fields: string[]) =>
    createHash('sha256').update(JSON.stringify(fields)).digest('base64url').slice(0, 16);
  const hashes = [legacyHash(['cli-legacy', 'old-1', 'pw-1']), legacyHash(['cli-legacy', 'old-2', 'pw-2'])];
  writeFileSync(`${csv}.import-state`, `2 ${hashes[0]}\n3 ${hashes[1]}\n`);
  const resumed = await cli('--json', 'import', csv);
  expect(JSON.parse(resumed.stdout)).toMatchObject({ imported: 0, skipped: 2, existing: 0 });
  const rewritten = readFileSync(`${csv}.import-state`, 'utf8');
  expect(rewritten).toMatch(/^# syncctl import-state v2 key=/);
  for (const h of hashes) expect(rewritten).not.toContain(h);
  expect(rewritten.trim().split('\n')).toHaveLength(3);
});

it('reports rows the API finds invalid with their line, imports the rest, in batches of --batch-size', async () => {
  const { id: policySite } = await createSite(stack.admin, 'cli-policy-site');
  await createTarget(stack.admin, policySite, {}, 'cli-roomy');
  await createTarget(stack.admin, policySite, { maxPasswordLength: 4 }, 'cli-tiny');
  await expectStatus(stack.admin.post('/policies', { name: 'cli-long', rules: { length: 32 } }), 201);
  const csv = join(dir, 'policy.csv');
  const rows = Array.from({ length: 25 }, (_, i) => `cli-roomy,roomy-${i},pw-${i}-x,cli-long`);
  rows.splice(7, 0, 'cli-tiny,tiny-1,pw-t1,cli-long');
  writeFileSync(csv, ['target,username,password,policy', ...rows, ''].join('\n'));
  const bad = await cli('import', csv, '--batch-size', '0');
  expect(bad.code).toBe(1);
  expect(bad.stderr).toContain('--batch-size: a whole number from 1 to 10000');
  const r = await cli('import', csv, '--batch-size', '10');
  expect(r.code, r.stderr).toBe(3);
  expect(r.stdout).toContain('imported 25');
  expect(r.stdout).toMatch(/9\s+policyId: policy 'cli-long' does not suit target\(s\) cli-tiny/);
  expect(r.stderr).toContain('26/26 100%');
});

it('refuses a file without the required columns, with a clear error', async () => {
  const csv = join(dir, 'bad-header.csv');
  writeFileSync(csv, 'host,user,pass\nx,y,z\n');
  const r = await cli('import', csv);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('unknown column(s) host, user, pass');
});

it('sync --site --wait exits 0 when every credential succeeded and 3 when some failed', async () => {
  const ok = await cli('--json', 'sync', '--site', stack.siteId, '--wait');
  expect(ok.code, ok.stderr).toBe(0);
  const run = JSON.parse(ok.stdout) as { outcome: string; counts: { success: number } };
  expect(run.outcome).toBe('success');
  expect(run.counts.success).toBe(4);

  const { id: failingSite } = await createSite(stack.admin, 'cli-failing-site');
  await startAgent(
    {
      COORDINATOR_URL: stack.coordinator.url,
      ENROLLMENT_TOKEN: await createEnrollmentToken(stack.admin, failingSite),
      AGENT_NAME: 'cli-failing-agent',
      LOG_LEVEL: 'info',
    },
    { label: 'cli-failing-agent' },
  );
  const good = await createTarget(stack.admin, failingSite, {}, 'good');
  const bad = await createTarget(stack.admin, failingSite, { failRate: 1, failReason: 'mismatch' }, 'bad');
  await createCredential(stack.admin, good);
  await createCredential(stack.admin, bad);
  const partial = await cli('sync', '--site', failingSite, '--wait');
  expect(partial.code, partial.stderr).toBe(3);
  expect(partial.stdout).toContain('partial');
  expect(partial.stderr).toContain('2/2 100%');
});

it('unknown commands and API errors are clear', async () => {
  const r = await cli('credentials', 'get', '00000000-0000-4000-8000-000000000000');
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('not found');
});

it('policies and sync groups: create, list, change the group with one password, --wait', async () => {
  const policy = await cli(
    '--json',
    'policies',
    'create',
    '--name',
    'cli-policy',
    '--rules',
    '{"length":20,"symbols":-1}',
    '--verify-interval',
    '43200',
  );
  expect(policy.code, policy.stderr).toBe(0);
  const policyId = (JSON.parse(policy.stdout) as { id: string }).id;
  expect((await cli('policies', 'list')).stdout).toContain('cli-policy');

  const target = await createTarget(stack.admin, stack.siteId, {}, 'cli-group-target');
  const members = [];
  for (const username of ['svc-a', 'svc-b', 'svc-c'])
    members.push(await createCredential(stack.admin, target, { username }));
  const group = await cli(
    '--json',
    'groups',
    'create',
    '--name',
    'cli-group',
    '--primary',
    members[0]!.id,
    '--members',
    members.map((m) => m.id).join(','),
    '--policy',
    policyId,
  );
  expect(group.code, group.stderr).toBe(0);
  const groupId = (JSON.parse(group.stdout) as { id: string }).id;
  expect((await cli('groups', 'list')).stdout).toContain('cli-group');

  const change = await cli('--json', 'groups', 'change', groupId, '--wait');
  expect(change.code, change.stderr).toBe(0);
  expect(JSON.parse(change.stdout)).toMatchObject({ outcome: 'success', counts: { success: 3 } });
  const passwords = new Set<string>();
  for (const m of members) {
    passwords.add(
      (await expectStatus<{ password: string }>(stack.admin.get(`/credentials/${m.id}/password`), 200))
        .password,
    );
  }
  expect(passwords.size).toBe(1);
  expect([...passwords][0]).toMatch(/^[A-Za-z0-9]{20}$/);

  // Edited, disabled (a change now is refused), enabled, deleted: the members stay.
  const renamed = await cli(
    'groups',
    'update',
    groupId,
    '--name',
    'cli-group-2',
    '--members',
    `${members[0]!.id}, ${members[1]!.id}`,
  );
  expect(renamed.code, renamed.stderr).toBe(0);
  expect(
    await expectStatus<{ name: string; members: unknown[] }>(stack.admin.get(`/sync-groups/${groupId}`), 200),
  ).toMatchObject({ name: 'cli-group-2', members: [expect.anything(), expect.anything()] });
  expect((await cli('groups', 'disable', groupId)).code).toBe(0);
  expect((await cli('groups', 'change', groupId)).code).toBe(2);
  expect((await cli('groups', 'enable', groupId)).code).toBe(0);
  expect((await cli('groups', 'delete', groupId)).stdout).toContain(`group ${groupId}: deleted`);
  expect((await stack.admin.get(`/credentials/${members[0]!.id}`)).status).toBe(200);
});
