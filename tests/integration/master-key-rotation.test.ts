import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { historyField } from '../../coordinator/credentials/sealing.js';
import { masterKeyFromBase64, SecretBox } from '../../shared/crypto.js';
import {
  ADMIN_TOKEN,
  newMasterKey,
  postgresUrl,
  startInProcessCoordinator,
  type InProcessCoordinator,
} from '../support/coordinator.js';
import {
  createCredential,
  type CreatedCredential,
  createSite,
  createTarget,
  FakeAgent,
  waitForValue,
  getCredential,
  expectStatus,
} from '../support/fixtures.js';
import { REPO_ROOT } from '../support/paths.js';

const run = promisify(execFile);
const oldKey = newMasterKey();
let c: InProcessCoordinator;

beforeAll(async () => {
  c = await startInProcessCoordinator('master-key-rotation', inject('redisUrl'), {
    COORDINATOR_MASTER_KEY: oldKey,
  });
});
afterAll(() => c?.close());

it('sync-coordinator rotate-master-key re-wraps current, pending and history secrets; the old key is then not needed', async () => {
  const site = await createSite(c.admin);
  const target = await createTarget(c.admin, site.id);
  const creds: CreatedCredential[] = [];
  for (let i = 0; i < 12; i++)
    creds.push(await createCredential(c.admin, target, { password: `rotation-pw-${i}` }));
  // A change settled (history entry) and one pending (pending secret): every sealed column is covered.
  const agent = await FakeAgent.enroll(c.url, c.admin, site.id);
  await agent.report(await agent.claim(50, 0));
  await expectStatus(c.admin.post(`/credentials/${creds[0]!.id}/change`, { password: 'rotated-new-0' }), 202);
  await expectStatus(c.admin.post(`/credentials/${creds[1]!.id}/change`, { password: 'rotated-new-1' }), 202);
  // A change the target refused: its pending password, handed out, is kept in history too.
  await expectStatus(c.admin.post(`/credentials/${creds[2]!.id}/change`, { password: 'refused-new-2' }), 202);
  const changes = await agent.claim(10, 0);
  await agent.report(
    changes.filter((j) => j.credentialId === creds[0]!.id),
    { outcome: 'ok', works: 'pending' },
  );
  await agent.report(
    changes.filter((j) => j.credentialId === creds[2]!.id),
    { outcome: 'failed', reason: 'change_failed' },
  );
  await waitForValue(async () => (await getCredential(c.admin, creds[0]!.id)).lastChangedAt !== null);
  expect((await getCredential(c.admin, creds[2]!.id)).changePending).toBe(false);

  const newKey = newMasterKey();
  const { stderr } = await run(
    process.execPath,
    [join(REPO_ROOT, 'dist/coordinator/main.js'), 'rotate-master-key'],
    {
      env: {
        ...process.env,
        DATABASE_URL: postgresUrl(c),
        COORDINATOR_ADMIN_TOKEN: ADMIN_TOKEN,
        COORDINATOR_MASTER_KEY: newKey,
        COORDINATOR_PREVIOUS_MASTER_KEYS: oldKey,
      },
    },
  );
  expect(stderr).toMatch(/12 credentials and 2 history entries re-wrapped/);

  const onlyNew = new SecretBox(masterKeyFromBase64(newKey));
  const { rows } = await c.ctx.db.query<{ id: string; secret: string; pending_secret: string | null }>(
    'SELECT id, secret, pending_secret FROM credentials ORDER BY id',
  );
  const opened = rows.map((r) => onlyNew.open(r.secret, r.id, 'secret'));
  expect(opened).toEqual(expect.arrayContaining(['rotated-new-0', 'rotation-pw-5']));
  const pending = rows.find((r) => r.id === creds[1]!.id)!;
  expect(onlyNew.open(pending.pending_secret!, pending.id, 'pending_secret')).toBe('rotated-new-1');
  const history = await c.ctx.db.query<{ id: string; credential_id: string; secret: string; kind: string }>(
    'SELECT * FROM secret_history ORDER BY kind',
  );
  expect(
    history.rows.map((h) => [h.kind, onlyNew.open(h.secret, h.credential_id, historyField(h.id))]),
  ).toEqual([
    ['discarded_pending', 'refused-new-2'],
    ['retired', 'rotation-pw-0'],
  ]);
  // The old key opens nothing any more.
  const onlyOld = new SecretBox(masterKeyFromBase64(oldKey));
  expect(() => onlyOld.open(rows[0]!.secret, rows[0]!.id, 'secret')).toThrow();

  // Running it again changes nothing.
  const again = await run(
    process.execPath,
    [join(REPO_ROOT, 'dist/coordinator/main.js'), 'rotate-master-key'],
    {
      env: {
        ...process.env,
        DATABASE_URL: postgresUrl(c),
        COORDINATOR_ADMIN_TOKEN: ADMIN_TOKEN,
        COORDINATOR_MASTER_KEY: newKey,
        COORDINATOR_PREVIOUS_MASTER_KEYS: oldKey,
      },
    },
  );
  expect(again.stderr).toMatch(/0 credentials and 0 history entries re-wrapped/);
}, 60_000);
