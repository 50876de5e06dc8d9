/**
 * Hostile text, on every route of the route table: a NUL (U+0000) or a lone UTF-16 surrogate in any
 * string of any path parameter, query or body (object keys too) is a 400 naming the field, and
 * changes nothing (every table's rows compared before and after); an id of the wrong shape likewise.
 * The routes and where their strings are come from /openapi.json, i.e. from the zod schemas the
 * routes validate with, so a new route is covered as it is declared; a route that takes a body needs
 * a valid sample below (the test fails without one), sent clean at the end to prove it was valid.
 * The agent gateway's batch calls (extend, report, release) refuse a bad item alone: 200, the item
 * refused and audited naming its field, nothing else changed.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ADMIN_TOKEN, startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import {
  createCredential,
  createEnrollmentToken,
  createSite,
  createTarget,
  expectStatus,
  FakeAgent,
  type ErrorBody,
} from '../support/fixtures.js';
import { api } from '../support/http.js';
import { loginSiteConnection } from '../support/login-site.js';
import { VERSION } from '../../shared/version.js';

interface JsonSchema {
  type?: string;
  format?: string;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
}

interface Operation {
  method: string;
  /** OpenAPI path, `{id}` style. */
  path: string;
  role: string;
  pathParams: string[];
  query: { name: string; schema: JsonSchema }[];
  body?: JsonSchema;
  /** The body's list whose items the route judges one by one (`x-batch-items`). */
  batch?: string;
}

type Key = string | number;
/** Where a string goes: a value at `path`, or a key of the object at `path`. */
interface Spot {
  path: Key[];
  kind: 'value' | 'key';
  uuid: boolean;
}

const HOSTILE = { nul: '\u0000', surrogate: '\ud800' } as const;
const KEY = 'k';
const n = () => randomBytes(4).toString('hex');
/** A password any policy here takes: 24+ characters with upper, lower, digit and symbol. */
const password = () => `Pw-${n()}${n()}${n()}-Aa1!`;

let c: InProcessCoordinator;
let agent: FakeAgent;
let operations: Operation[];
/** A real object for each kind of path parameter, so the clean samples succeed. */
const ids: Record<string, string> = {};
/** Path parameters of one route that need another object than `ids` gives (a web target's login trials). */
const idsOf: Record<string, Record<string, string>> = {};
let samples: Record<string, () => Promise<unknown[]>>;

beforeAll(async () => {
  c = await startInProcessCoordinator('hostile-text', inject('redisUrl'));
  const site = await createSite(c.admin);
  const target = await createTarget(c.admin, site.id);
  const credential = await createCredential(c.admin, target);
  // Login trials are a web target's.
  const web = await expectStatus<{ id: string }>(
    c.admin.post('/targets', {
      siteId: site.id,
      name: `web-trials-${n()}`,
      kind: 'web',
      connection: loginSiteConnection('http://127.0.0.1:9'),
    }),
    201,
  );
  const webCredential = await createCredential(c.admin, web.id);
  idsOf['POST /api/v1/targets/{id}/login-trials'] = { id: web.id };
  idsOf['GET /api/v1/targets/{id}/login-trials/{trialId}'] = { id: web.id };
  // The agent's site has no work: its clean claim takes nothing (a claimed job would change rows
  // a moment later, as it shows being synced, while another route is being checked).
  agent = await FakeAgent.enroll(c.url, c.admin, (await createSite(c.admin)).id);
  const policy = await expectStatus<{ id: string }>(c.admin.post('/policies', { name: `p-${n()}` }), 201);
  const token = await expectStatus<{ id: string }>(
    c.admin.post('/tokens', { name: `t-${n()}`, role: 'viewer' }),
    201,
  );
  const enrollment = await expectStatus<{ id: string }>(
    c.admin.post(`/sites/${site.id}/enrollment-tokens`, {}),
    201,
  );
  const group = await newGroup(target);
  const channel = await expectStatus<{ id: string }>(
    c.admin.post('/notification-channels', {
      kind: 'webhook',
      name: `hook-${n()}`,
      webhook: { url: 'http://127.0.0.1:9/hook' },
    }),
    201,
  );
  const run = await expectStatus<{ id: string }>(
    c.admin.post('/sync-runs', { kind: 'verify', scope: { siteId: site.id } }),
    201,
  );
  Object.assign(ids, {
    sites: site.id,
    agents: agent.agentId,
    targets: target,
    credentials: credential.id,
    policies: policy.id,
    tokens: token.id,
    'enrollment-tokens': enrollment.id,
    'sync-groups': group,
    'sync-runs': run.id,
    'notification-channels': channel.id,
  });
  const held = [{ jobId: `v-${credential.id}`, token: `${agent.agentId}.${n()}` }];
  samples = {
    'POST /api/v1/sites': async () => [{ name: `site-${n()}`, requireApproval: false }],
    'POST /api/v1/sites/{id}/enrollment-tokens': async () => [{ ttlSeconds: 600, uses: 1 }],
    'PATCH /api/v1/sites/{id}': async () => [{ name: `site-${n()}`, requireApproval: false, enabled: true }],
    'PATCH /api/v1/agents/{id}': async () => [{ name: `agent-${n()}` }],
    'PATCH /api/v1/policies/{id}': async () => [
      {
        name: `policy-${n()}`,
        // The sync group's policy too (PATCH /sync-groups): the clean group change's password (hex) must suit it.
        rules: { length: 20, exclude: 'O' },
        maintenanceWindow: { days: [1], start: '01:00', end: '02:00', timeZone: 'Europe/Paris' },
      },
    ],
    'PATCH /api/v1/sync-groups/{id}': async () => [{ name: `group-${n()}`, policyId: policy.id }],
    'POST /api/v1/targets': async () => [
      { siteId: site.id, name: `sim-${n()}`, kind: 'simulated', connection: { latencyMs: 1 } },
      { siteId: site.id, name: `ws-${n()}`, kind: 'workstation', connection: { host: '127.0.0.1' } },
      {
        siteId: site.id,
        name: `web-${n()}`,
        kind: 'web',
        connection: loginSiteConnection('http://127.0.0.1:9'),
      },
    ],
    'PATCH /api/v1/targets/{id}': async () => [{ name: `renamed-${n()}`, connection: { latencyMs: 2 } }],
    'POST /api/v1/targets/{id}/login-trials': async () => [
      // A short workflow: every string of a sample is tried with every hostile text.
      { workflow: { steps: [{ name: 'home', url: '/' }] }, credentialId: webCredential.id },
    ],
    'POST /api/v1/credentials': async () => [
      {
        targetId: target,
        username: `u-${n()}`,
        password: password(),
        policyId: policy.id,
        syncEnabled: true,
      },
    ],
    'POST /api/v1/credentials/batch': async () => [
      {
        items: [
          {
            targetId: target,
            username: `u-${n()}`,
            password: password(),
            policyId: policy.id,
            syncEnabled: true,
          },
        ],
      },
    ],
    'POST /api/v1/credentials/bulk': async () => [
      { action: 'verify', filter: { siteId: site.id, q: `u-${n()}` } },
      { action: 'enable', ids: [credential.id] },
    ],
    'PATCH /api/v1/credentials/{id}': async () => [{ policyId: policy.id, syncEnabled: true }],
    'POST /api/v1/credentials/{id}/change': async () => [{ password: password() }],
    'POST /api/v1/credentials/{id}/dependencies': async () => [await chainTo(credential.id)],
    'POST /api/v1/credentials/{id}/dependencies/retry': async () => {
      await expectStatus(
        c.admin.post(`/credentials/${credential.id}/dependencies`, await chainTo(credential.id)),
        200,
      );
      const deps = await expectStatus<{ items: { id: string }[] }>(
        c.admin.get(`/credentials/${credential.id}/dependencies`),
        200,
      );
      return [{}, { dependencyIds: [deps.items[0]!.id] }];
    },
    'POST /api/v1/credentials/{id}/stored-password': async () => [
      { password: password(), pushDependencies: false },
    ],
    'POST /api/v1/sync-runs': async () => [{ kind: 'verify', scope: { targetId: target } }],
    'POST /api/v1/policies': async () => [
      {
        name: `policy-${n()}`,
        rules: { length: 20, exclude: 'O0' },
        maintenanceWindow: { days: [1], start: '01:00', end: '02:00', timeZone: 'Europe/Paris' },
      },
    ],
    'POST /api/v1/sync-groups': async () => {
      const [a, b] = [await createCredential(c.admin, target), await createCredential(c.admin, target)];
      return [
        { name: `group-${n()}`, policyId: policy.id, primaryCredentialId: a.id, memberCredentialIds: [b.id] },
      ];
    },
    'POST /api/v1/sync-groups/{id}/change': async () => [{ password: password() }],
    'POST /api/v1/tokens': async () => [{ name: `token-${n()}`, role: 'viewer' }],
    'POST /api/v1/notification-channels': async () => [
      {
        kind: 'webhook',
        name: `hook-${n()}`,
        webhook: { url: 'http://127.0.0.1:9/hook', format: 'slack' },
        filter: { eventTypes: ['agent.offline'], siteIds: [site.id], statuses: ['out_of_sync'] },
      },
      {
        kind: 'email',
        name: `mail-${n()}`,
        email: {
          host: 'mail.example',
          port: 587,
          from: 'a@example.com',
          to: ['b@example.com'],
          password: 'pw',
        },
      },
    ],
    'PATCH /api/v1/notification-channels/{id}': async () => [{ name: `renamed-${n()}`, enabled: false }],
    'POST /agent/v1/enroll': async () => [
      {
        enrollmentToken: await createEnrollmentToken(c.admin, site.id),
        name: `agent-${n()}`,
        host: 'agent-host.example',
        version: VERSION,
        adapters: ['simulated'],
        concurrency: 2,
      },
    ],
    'POST /agent/v1/heartbeat': async () => [{ inFlight: 0, version: VERSION, concurrency: 2 }],
    'POST /agent/v1/claim': async () => [{ max: 1, waitMs: 0 }],
    'POST /agent/v1/extend': async () => [{ jobs: held }],
    'POST /agent/v1/release': async () => [{ jobs: held }],
    'POST /agent/v1/report': async () => [
      { results: [{ ...held[0], result: { outcome: 'ok', message: 'fine' }, durationMs: 1 }] },
      {
        results: [
          { ...held[0], result: { outcome: 'failed', reason: 'mismatch', message: 'no' }, durationMs: 1 },
        ],
      },
    ],
  };
  operations = await loadOperations();
});
afterAll(() => c?.close());

/** A dependency list chaining a fresh credential of the same target to `owner`. */
async function chainTo(owner: string): Promise<{ dependencies: unknown[] }> {
  const { targetId } = await expectStatus<{ targetId: string }>(c.admin.get(`/credentials/${owner}`), 200);
  const other = await createCredential(c.admin, targetId);
  return { dependencies: [{ kind: 'credential', name: `chain-${n()}`, credentialId: other.id }] };
}

async function newGroup(target: string): Promise<string> {
  const [a, b] = [await createCredential(c.admin, target), await createCredential(c.admin, target)];
  const group = await expectStatus<{ id: string }>(
    c.admin.post('/sync-groups', {
      name: `g-${n()}`,
      primaryCredentialId: a.id,
      memberCredentialIds: [b.id],
    }),
    201,
  );
  return group.id;
}

async function loadOperations(): Promise<Operation[]> {
  const doc = (await api(c.url).get('/openapi.json')).body as {
    paths: Record<string, Record<string, Record<string, unknown>>>;
  };
  const out: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const parameters = (op.parameters ?? []) as { name: string; in: string; schema: JsonSchema }[];
      const body = op.requestBody as { content: { 'application/json': { schema: JsonSchema } } } | undefined;
      out.push({
        method: method.toUpperCase(),
        path,
        role: op['x-required-role'] as string,
        pathParams: parameters.filter((p) => p.in === 'path').map((p) => p.name),
        query: parameters.filter((p) => p.in === 'query'),
        body: body?.content['application/json'].schema,
        batch: op['x-batch-items'] as string | undefined,
      });
    }
  }
  return out;
}

const opName = (op: Operation) => `${op.method} ${op.path}`;

/** Every string place of a body: those the schema declares (all union branches) and the sample's own. */
function spots(schema: JsonSchema | undefined, sample: unknown): Spot[] {
  const found = new Map<string, Spot>();
  const add = (spot: Spot) => found.set(JSON.stringify([spot.kind, spot.path]), spot);
  const walkSchema = (s: JsonSchema | undefined, path: Key[], depth: number): void => {
    if (!s || depth > 12) return;
    for (const branch of [...(s.anyOf ?? []), ...(s.oneOf ?? [])]) walkSchema(branch, path, depth + 1);
    if (s.type === 'string') add({ path, kind: 'value', uuid: s.format === 'uuid' });
    for (const [name, child] of Object.entries(s.properties ?? {}))
      walkSchema(child, [...path, name], depth + 1);
    if (s.items) walkSchema(s.items, [...path, 0], depth + 1);
    if (s.type === 'object' && s.additionalProperties !== false && s.additionalProperties !== undefined) {
      add({ path, kind: 'key', uuid: false });
      add({ path: [...path, KEY], kind: 'value', uuid: false });
    }
  };
  const walkSample = (v: unknown, path: Key[]): void => {
    if (typeof v === 'string' && !found.has(JSON.stringify(['value', path])))
      add({ path, kind: 'value', uuid: false });
    else if (Array.isArray(v)) v.forEach((x, i) => walkSample(x, [...path, i]));
    else if (v !== null && typeof v === 'object') {
      add({ path, kind: 'key', uuid: false });
      for (const [k, x] of Object.entries(v)) walkSample(x, [...path, k]);
    }
  };
  walkSchema(schema, [], 0);
  walkSample(sample, []);
  return [...found.values()];
}

function withValue(sample: unknown, spot: Spot, make: (old: string) => string): unknown {
  const root = structuredClone(sample ?? {}) as Record<Key, unknown>;
  let node = root;
  const path = spot.kind === 'key' ? spot.path : spot.path.slice(0, -1);
  for (const [i, key] of path.entries()) {
    const next = path[i + 1] ?? (spot.kind === 'key' ? undefined : spot.path.at(-1));
    if (node[key] === null || typeof node[key] !== 'object') node[key] = typeof next === 'number' ? [] : {};
    node = node[key] as Record<Key, unknown>;
  }
  if (spot.kind === 'key') node[make(KEY)] = 'x';
  else {
    const last = spot.path.at(-1)!;
    const old = node[last];
    node[last] = make(typeof old === 'string' ? old : 'x');
  }
  return root;
}

const fieldOf = (root: string, spot: Spot) =>
  [root, ...spot.path, ...(spot.kind === 'key' ? [`${KEY}\ufffd`] : [])].join('.');

const tokenFor = (op: Operation): string | undefined =>
  op.role === 'agent' || op.role === 'agent-identified'
    ? agent.token
    : op.role === 'public' || op.role === 'metrics'
      ? undefined
      : ADMIN_TOKEN;

/** The path with real ids, one parameter possibly replaced by `raw` (already percent-encoded). */
function urlOf(op: Operation, replace?: { param: string; raw: string }, query = ''): string {
  const path = op.path.replace(/\{(\w+)\}/g, (_m, name: string) => {
    if (replace?.param === name) return replace.raw;
    const kind = /\/api\/v1\/([\w-]+)\//.exec(op.path)?.[1] ?? '';
    return idsOf[opName(op)]?.[name] ?? ids[kind] ?? randomUUID();
  });
  return `${c.url}${path}${query}`;
}

async function send(op: Operation, url: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const token = tokenFor(op);
  const res = await request(url, {
    method: op.method as 'GET',
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: kept as text for the failure message
  }
  return { status: res.statusCode, body: parsed };
}

function expectNamed(res: { status: number; body: unknown }, field: string, what: string): void {
  expect(res.status, `${what}: ${JSON.stringify(res.body)}`).toBe(400);
  const error = (res.body as ErrorBody).error;
  expect(error.code, what).toBe('VALIDATION_FAILED');
  expect(
    (error.issues ?? []).map((i) => i.field),
    what,
  ).toContain(field);
}

/** A digest of every table's rows: nothing written shows as no change at all. */
async function digests(): Promise<Record<string, string>> {
  const { rows: tables } = await c.ctx.db.query<{ name: string }>(
    `SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1`,
  );
  const out: Record<string, string> = {};
  for (const { name } of tables) {
    const { rows } = await c.ctx.db.query<{ d: string }>(
      `SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) AS d FROM "${name}" t`,
    );
    out[name] = rows[0]!.d;
  }
  return out;
}

/**
 * Reads that are audited (the exports, the compliance report): bytes that are not UTF-8 in a query
 * decode to U+FFFD, a valid filter, so the export runs and records its audit event; nothing else
 * may change.
 */
const AUDITED_READS = new Set([
  'GET /api/v1/credentials/export',
  'GET /api/v1/sync-runs/export',
  'GET /api/v1/sync-runs/{id}/items/export',
  'GET /api/v1/audit/export',
  'GET /api/v1/sites/{id}/compliance-report',
]);

const withoutAudit = (d: Record<string, string>) => {
  const { audit_events: _ignored, ...rest } = d;
  return rest;
};

async function lastRefusal(): Promise<string> {
  const { rows } = await c.ctx.db.query<{ details: unknown }>(
    `SELECT details FROM audit_events WHERE action LIKE '%.refused' ORDER BY at DESC, id DESC LIMIT 1`,
  );
  return JSON.stringify(rows[0]?.details ?? null);
}

async function batchAudit(batchId: string): Promise<string> {
  const { rows } = await c.ctx.db.query<{ details: unknown }>(
    `SELECT details FROM audit_events WHERE object_id = $1`,
    [batchId],
  );
  return JSON.stringify(rows.map((r) => r.details));
}

describe('hostile text on every route', () => {
  it('a NUL or a lone surrogate in any string is a 400 naming the field, and changes nothing', async () => {
    const covered = new Set<string>();
    for (const op of operations) {
      const hasInput = op.pathParams.length > 0 || op.query.length > 0 || op.body !== undefined;
      if (!hasInput) continue;
      const name = opName(op);
      const bodies = op.body ? await samples[name]?.() : [undefined];
      expect(bodies, `${name} takes a body: add a valid sample to this test`).toBeDefined();
      const before = await digests();
      for (const param of op.pathParams) {
        const res = await send(op, urlOf(op, { param, raw: `${randomUUID()}%00` }), bodies![0]);
        expectNamed(res, `params.${param}`, `${name} params.${param} NUL`);
        // A lone surrogate cannot be percent-encoded as UTF-8: its bytes do not decode.
        const lone = await send(op, urlOf(op, { param, raw: 'x%ED%A0%80' }), bodies![0]);
        expectNamed(lone, 'path', `${name} params.${param} surrogate bytes`);
        covered.add(name);
      }
      for (const { name: param } of op.query) {
        const res = await send(op, urlOf(op, undefined, `?${param}=x%00y`), bodies![0]);
        expectNamed(res, `query.${param}`, `${name} query.${param} NUL`);
        // Percent-decoding never yields a lone surrogate; bytes that are not UTF-8 are refused as the
        // path's are (the query-string parser would have made them U+FFFD).
        const bytes = await send(op, urlOf(op, undefined, `?${param}=%ED%A0%80`), bodies![0]);
        expectNamed(bytes, `query.${param}`, `${name} query.${param} surrogate bytes`);
        covered.add(name);
      }
      for (const sample of bodies!) {
        if (sample === undefined) continue;
        for (const spot of spots(op.body, sample)) {
          for (const [label, bad] of Object.entries(HOSTILE)) {
            const body = withValue(sample, spot, (old) => `${old}${bad}`);
            const field = fieldOf('body', spot);
            const what = `${name} ${field} ${label}`;
            const res = await send(op, urlOf(op), body);
            covered.add(name);
            if (op.batch && spot.path[0] === op.batch && spot.path.length >= 2) {
              // The item alone is refused (and audited naming the field); the call answers 200.
              expect(res.status, `${what}: ${JSON.stringify(res.body)}`).toBe(200);
              const answer = res.body as {
                rejected?: { code: string }[];
                lost?: string[];
                batchId?: string;
                results?: { result: string; issues?: { field: string }[] }[];
              };
              if (answer.results) {
                // POST /credentials/batch: the item is `invalid` naming the field, in the batch's one audit event.
                expect(
                  answer.results.flatMap((r) => r.issues?.map((i) => i.field) ?? []),
                  what,
                ).toContain(field);
                expect(await batchAudit(answer.batchId!), what).toContain(JSON.stringify(field));
                continue;
              }
              if (answer.rejected)
                expect(
                  answer.rejected.map((r) => r.code),
                  what,
                ).toContain('VALIDATION_FAILED');
              else expect(answer.lost, what).toHaveLength(1);
              expect(await lastRefusal(), what).toContain(JSON.stringify(field));
            } else expectNamed(res, field, what);
          }
        }
      }
      const after = await digests();
      if (op.batch || AUDITED_READS.has(name))
        expect(withoutAudit(after), name).toEqual(withoutAudit(before));
      else expect(after, name).toEqual(before);
      // The samples were valid: clean, each one succeeds.
      for (const sample of bodies!) {
        if (sample === undefined) continue;
        const res = await send(op, urlOf(op), sample);
        expect(res.status, `${name} clean sample: ${JSON.stringify(res.body)}`).toBeLessThan(300);
      }
    }
    const withInput = operations
      .filter((op) => op.pathParams.length > 0 || op.query.length > 0 || op.body !== undefined)
      .map(opName);
    expect([...covered].sort()).toEqual(withInput.sort());
    expect(withInput.length).toBeGreaterThan(40);
  });

  it('an id of the wrong shape is a 400 naming the field, and changes nothing', async () => {
    const bodiesOf = new Map<Operation, unknown[]>();
    for (const op of operations) bodiesOf.set(op, op.body ? await samples[opName(op)]!() : [undefined]);
    const before = await digests();
    let checked = 0;
    for (const op of operations) {
      const name = opName(op);
      const bodies = bodiesOf.get(op)!;
      for (const param of op.pathParams) {
        expectNamed(
          await send(op, urlOf(op, { param, raw: 'not-a-uuid' }), bodies[0]),
          `params.${param}`,
          name,
        );
        checked++;
      }
      for (const { name: param, schema } of op.query) {
        if (schema.format !== 'uuid') continue;
        expectNamed(
          await send(op, urlOf(op, undefined, `?${param}=not-a-uuid`), bodies[0]),
          `query.${param}`,
          name,
        );
        checked++;
      }
      for (const sample of bodies) {
        for (const spot of spots(op.body, sample).filter((s) => s.uuid)) {
          const field = fieldOf('body', spot);
          const res = await send(
            op,
            urlOf(op),
            withValue(sample, spot, () => 'not-a-uuid'),
          );
          if (op.batch && spot.path[0] === op.batch && spot.path.length >= 2) {
            // POST /credentials/batch: the item alone is `invalid`, naming the field.
            expect(res.status, `${name} ${field}`).toBe(200);
            const results = (res.body as { results: { issues?: { field: string }[] }[] }).results;
            expect(results.flatMap((r) => r.issues?.map((i) => i.field) ?? [])).toContain(field);
          } else expectNamed(res, field, `${name} ${field}`);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(40);
    // Only the audit events of batches whose one item was refused.
    expect(withoutAudit(await digests())).toEqual(withoutAudit(before));
  });

  it('a body nested deeper than 64 levels is a 400 naming where (zod would overflow: a 500)', async () => {
    const before = await digests();
    const op = operations.find((o) => opName(o) === 'POST /api/v1/targets')!;
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const step = `{"name":"a","method":"POST","url":"/x","json":{"a":${deep}}}`;
    const raw = `{"siteId":"${ids.sites}","name":"deep","kind":"web","connection":{"baseUrl":"http://127.0.0.1:9","login":{"steps":[${step}]}}}`;
    const res = await request(urlOf(op), {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: raw,
    });
    const body = (await res.body.json()) as ErrorBody;
    expect(res.statusCode, JSON.stringify(body).slice(0, 300)).toBe(400);
    expect(body.error.issues![0]!.field).toMatch(/^body\.connection\.login\.steps\.0\.json\.a\.0\.0\./);
    expect(body.error.issues![0]!.message).toBe('nested deeper than 64 levels');
    expect(await digests()).toEqual(before);
  });
});
