/**
 * No 500 prints a secret. The database is made to fail (a trigger raising an error whose detail and
 * hint quote the row being written: sealed secrets, token hashes) under every route that handles a
 * secret: a chosen password (create, change), a revealed password, a new API token, an enrollment.
 * Each answers `internal error (request <id>)`, and the one error line it logs (pino output
 * captured) holds the error's type, code, message and stack, never the database's detail, where or
 * hint, never a password, a token or a sealed value.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { GATEWAY_PATHS } from '../../shared/contracts/gateway.js';
import { LogCapture, startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  createEnrollmentToken,
  createSite,
  createTarget,
  type CreatedCredential,
  type ErrorBody,
} from '../support/fixtures.js';
import { api, type ApiResponse } from '../support/http.js';
import { waitFor } from '../support/wait.js';

const logs = new LogCapture();
let c: InProcessCoordinator;
let siteId: string;
let targetId: string;
let credential: CreatedCredential;

const strongPassword = () => `Pw-${randomBytes(12).toString('hex')}-Aa1!`;

beforeAll(async () => {
  c = await startInProcessCoordinator('internal-errors', inject('redisUrl'), { LOG_LEVEL: 'info' }, { logs });
  siteId = (await createSite(c.admin)).id;
  targetId = await createTarget(c.admin, siteId);
  credential = await createCredential(c.admin, targetId, { password: strongPassword() });
});
afterAll(() => c?.close());

/** From now on, every write to `table` fails with the row quoted in the error's detail and hint. */
async function failWritesTo(table: string): Promise<void> {
  await c.ctx.db.query(`
    CREATE OR REPLACE FUNCTION test_forced_failure() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'forced failure on %', TG_TABLE_NAME
        USING DETAIL = row_to_json(NEW)::text, HINT = row_to_json(NEW)::text;
    END $$`);
  await c.ctx.db.query(
    `CREATE TRIGGER test_forced_failure BEFORE INSERT OR UPDATE ON ${table}
       FOR EACH ROW EXECUTE FUNCTION test_forced_failure()`,
  );
}

async function stopFailing(table: string): Promise<void> {
  await c.ctx.db.query(`DROP TRIGGER test_forced_failure ON ${table}`);
}

/** Every sealed value and token hash stored now: none may reach a log line. */
async function storedSecrets(): Promise<string[]> {
  const { rows } = await c.ctx.db.query<{ v: string }>(`
    SELECT secret AS v FROM credentials UNION ALL SELECT pending_secret FROM credentials
    UNION ALL SELECT token_hash FROM api_tokens UNION ALL SELECT token_hash FROM agents
    UNION ALL SELECT token_hash FROM enrollment_tokens`);
  return rows.map((r) => r.v).filter((v): v is string => typeof v === 'string' && v.length > 0);
}

async function expectInternal(res: ApiResponse<unknown>, secrets: string[], what: string): Promise<void> {
  expect(res.status, `${what}: ${JSON.stringify(res.body)}`).toBe(500);
  const error = (res.body as ErrorBody).error;
  expect(error.code).toBe('INTERNAL');
  const reqId = /\(request ([^)]+)\)/.exec(error.message)?.[1];
  expect(reqId, error.message).toBeDefined();
  const line = (await waitFor(
    () => logs.lines.find((l) => l.includes(reqId!) && l.includes('"request failed"')),
    { message: `the error line of ${what}` },
  )) as string;
  const entry = JSON.parse(line) as { level: number; error: Record<string, unknown> };
  expect(entry.level).toBe(50);
  expect(Object.keys(entry.error).sort(), what).toEqual(['code', 'message', 'stack', 'type']);
  expect(entry.error).toMatchObject({ type: 'DatabaseError', code: 'P0001', message: /^forced failure on / });
  expect(line).not.toContain('"err"');
  const lines = logs.lines.filter((l) => l.includes(reqId!));
  for (const secret of [...secrets, ...(await storedSecrets())]) {
    for (const l of lines) expect(l.includes(secret), `${what}: a secret in ${l}`).toBe(false);
    expect(JSON.stringify(res.body).includes(secret), what).toBe(false);
  }
  expect(lines.join('\n')).not.toMatch(/pw[aoe]_[A-Za-z0-9]/);
}

it('a database failure under a secret-bearing route: a 500 whose log line holds no secret', async () => {
  // A chosen password, on create and on change.
  await failWritesTo('credentials');
  const created = strongPassword();
  await expectInternal(
    await c.admin.post('/credentials', { targetId, username: 'someone', password: created }),
    [created],
    'POST /credentials',
  );
  const chosen = strongPassword();
  await expectInternal(
    await c.admin.post(`/credentials/${credential.id}/change`, { password: chosen }),
    [chosen],
    'POST /credentials/{id}/change',
  );
  await stopFailing('credentials');

  // A revealed password (its audit event fails), and a new API token.
  await failWritesTo('audit_events');
  await expectInternal(
    await c.admin.get(`/credentials/${credential.id}/password`),
    [credential.password],
    'GET /credentials/{id}/password',
  );
  await stopFailing('audit_events');
  await failWritesTo('api_tokens');
  await expectInternal(await c.admin.post('/tokens', { name: 'ops', role: 'viewer' }), [], 'POST /tokens');
  await stopFailing('api_tokens');

  // An enrollment (the enrollment token sent, the agent token made).
  const enrollmentToken = await createEnrollmentToken(c.admin, siteId);
  await failWritesTo('agents');
  await expectInternal(
    await api(c.url).post(GATEWAY_PATHS.enroll, {
      enrollmentToken,
      name: 'agent',
      host: 'host',
      version: '1',
      adapters: ['simulated'],
      concurrency: 1,
    }),
    [enrollmentToken],
    'POST /agent/v1/enroll',
  );
  await stopFailing('agents');
});
