/**
 * Keyset paging walks every row exactly once: the credentials list in every sort (timestamps with
 * microseconds, as PostgreSQL's now() writes them, ties, rows never verified, rows created with sync
 * disabled), the sync run history (ties on started_at), a run's items, and targets.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CREDENTIAL_SORTS, type CredentialView, type SyncRunView } from '../../shared/contracts/api.js';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import { createCredential, createSite, createTarget, expectStatus } from '../support/fixtures.js';

let c: InProcessCoordinator;
let siteId: string;
const ids: string[] = [];

interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** Follows nextCursor from the first page to the last; returns every item in order. */
async function walk<T>(path: string, limit: number): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  for (let pages = 0; ; pages++) {
    if (pages > 200) throw new Error(`${path}: more pages than rows`);
    const sep = path.includes('?') ? '&' : '?';
    const page: Page<T> = await expectStatus(
      c.admin.get(`${path}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`),
      200,
      path,
    );
    items.push(...page.items);
    if (!page.nextCursor) return items;
    cursor = page.nextCursor;
  }
}

beforeAll(async () => {
  c = await startInProcessCoordinator('paging', inject('redisUrl'));
  siteId = (await createSite(c.admin)).id;
  // Two targets with the same name prefix and one with the same name at another site: ties in the
  // target sort are broken by id.
  const a = await createTarget(c.admin, siteId, {}, 'alpha');
  const b = await createTarget(c.admin, siteId, {}, 'beta');
  for (let i = 0; i < 9; i++) ids.push((await createCredential(c.admin, i % 2 ? a : b)).id);
  // Created with sync disabled: status_changed_at stays the database's now() (microseconds), and
  // never verified (last verified sorts as -infinity).
  for (let i = 0; i < 9; i++)
    ids.push((await createCredential(c.admin, i % 2 ? a : b, { syncEnabled: false })).id);
  // Times that differ only below the millisecond, and exact ties, for some of the rows.
  await c.ctx.db.query(
    `UPDATE credentials SET status_changed_at = '2030-01-01T00:00:00Z'::timestamptz + make_interval(secs => ((n % 4) * 0.0002)::float8),
                            last_verified_at = CASE WHEN n % 3 = 0 THEN NULL ELSE '2029-06-01T00:00:00Z'::timestamptz + make_interval(secs => ((n % 5) * 0.0003)::float8) END
       FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM credentials WHERE site_id = $1) x
      WHERE credentials.id = x.id AND x.n % 2 = 0`,
    [siteId],
  );
});

afterAll(() => c?.close());

describe('credentials list', () => {
  for (const key of CREDENTIAL_SORTS) {
    for (const sort of [key, `-${key}`]) {
      it(`sort=${sort}: every page, each credential once`, async () => {
        for (const limit of [1, 4, 7]) {
          const got = await walk<CredentialView>(`/credentials?siteId=${siteId}&sort=${sort}`, limit);
          const seen = got.map((x) => x.id);
          expect(new Set(seen).size, `duplicates at limit ${limit}`).toBe(seen.length);
          expect([...seen].sort(), `limit ${limit}`).toEqual([...ids].sort());
          // One page holding everything gives the same order.
          const all = await expectStatus<Page<CredentialView>>(
            c.admin.get(`/credentials?siteId=${siteId}&sort=${sort}&limit=500`),
            200,
          );
          expect(seen).toEqual(all.items.map((x) => x.id));
        }
      });
    }
  }

  it('a cursor after the longest username (256 characters, not all ASCII) still comes back', async () => {
    const target = await createTarget(c.admin, (await createSite(c.admin)).id, {}, 'long-names');
    const long = (ch: string) => ch.repeat(256);
    for (const u of [long('é'), long('ü'), long('z')])
      await createCredential(c.admin, target, { username: u });
    const got = await walk<CredentialView>(`/credentials?targetId=${target}&sort=username`, 1);
    const onePage = await expectStatus<Page<CredentialView>>(
      c.admin.get(`/credentials?targetId=${target}&sort=username&limit=10`),
      200,
    );
    expect(got.map((x) => x.id)).toEqual(onePage.items.map((x) => x.id));
    expect(got).toHaveLength(3);
  });

  it('filters with paging: a text search walks its matches once', async () => {
    const got = await walk<CredentialView>(`/credentials?siteId=${siteId}&q=user&sort=-statusChangedAt`, 2);
    expect(new Set(got.map((x) => x.id)).size).toBe(ids.length);
    const byTarget = await walk<CredentialView>(`/credentials?siteId=${siteId}&q=alph&sort=username`, 2);
    expect(byTarget.length).toBe(8);
    expect(byTarget.every((x) => x.targetName === 'alpha')).toBe(true);
  });
});

describe('sync run history', () => {
  it('pages on (started_at, id): runs that started at the same instant are neither skipped nor repeated', async () => {
    const runIds = Array.from({ length: 7 }, () => randomUUID());
    await c.ctx.db.query(
      `INSERT INTO sync_runs (id, kind, trigger, scope, created_by, started_at, finished_at, outcome)
       SELECT id, 'verify', 'manual', jsonb_build_object('siteId', $2::text), 'test',
              '2031-01-01T00:00:00.123456Z', CASE WHEN n % 2 = 0 THEN now() END,
              CASE WHEN n % 2 = 0 THEN 'partial' END
         FROM unnest($1::uuid[]) WITH ORDINALITY AS u(id, n)`,
      [runIds, siteId],
    );
    for (const limit of [1, 2, 3]) {
      const got = await walk<SyncRunView>(`/sync-runs?siteId=${siteId}`, limit);
      expect(got.map((r) => r.id).sort()).toEqual([...runIds].sort());
    }
    // Filtered on the server: outcome and start time.
    const partial = await walk<SyncRunView>(`/sync-runs?siteId=${siteId}&outcome=partial`, 2);
    expect(partial).toHaveLength(3);
    expect(partial.every((r) => r.outcome === 'partial')).toBe(true);
    const running = await walk<SyncRunView>(`/sync-runs?siteId=${siteId}&outcome=running`, 2);
    expect(running).toHaveLength(4);
    expect(running.every((r) => r.finishedAt === null)).toBe(true);
    const later = await walk<SyncRunView>(
      `/sync-runs?siteId=${siteId}&since=${encodeURIComponent('2031-01-01T00:00:01Z')}`,
      2,
    );
    expect(later).toHaveLength(0);
  });
});

describe('run items', () => {
  it('come in pages, in the order they came, each once', async () => {
    const runId = randomUUID();
    await c.ctx.db.query(
      `INSERT INTO sync_runs (id, kind, trigger, scope, created_by) VALUES ($1, 'verify', 'manual', '{}', 'test')`,
      [runId],
    );
    await c.ctx.db.query(
      `INSERT INTO sync_run_items (run_id, credential_id, result)
       SELECT $1, id, CASE WHEN n % 3 = 0 THEN 'failed' ELSE 'success' END
         FROM unnest($2::uuid[]) WITH ORDINALITY AS u(id, n) ORDER BY n`,
      [runId, ids],
    );
    const first = await expectStatus<Page<{ credentialId: string }>>(
      c.admin.get(`/sync-runs/${runId}/items?limit=5`),
      200,
    );
    expect(first.items).toHaveLength(5);
    expect(first.nextCursor).not.toBeNull();
    // Without a limit: the default page (50), with the same shape.
    const unbounded = await expectStatus<Page<unknown>>(c.admin.get(`/sync-runs/${runId}/items`), 200);
    expect(unbounded.items).toHaveLength(ids.length);
    for (const limit of [1, 4, 18]) {
      const got = await walk<{ credentialId: string; username: string | null }>(
        `/sync-runs/${runId}/items`,
        limit,
      );
      expect(got.map((i) => i.credentialId)).toEqual(ids);
      expect(got.every((i) => i.username !== null)).toBe(true);
    }
  });
});

describe('targets', () => {
  it('are paged by name and searchable', async () => {
    const other = (await createSite(c.admin)).id;
    for (const n of ['gamma-01', 'gamma-02', 'gamma-03', 'alpha']) await createTarget(c.admin, other, {}, n);
    const all = await walk<{ id: string; name: string }>('/targets', 2);
    expect(all.map((t) => t.name)).toEqual([
      'alpha',
      'alpha',
      'beta',
      'gamma-01',
      'gamma-02',
      'gamma-03',
      'long-names',
    ]);
    expect(new Set(all.map((t) => t.id)).size).toBe(7);
    const found = await walk<{ name: string }>('/targets?q=GAMMA-0', 2);
    expect(found.map((t) => t.name)).toEqual(['gamma-01', 'gamma-02', 'gamma-03']);
    const ofSite = await walk<{ name: string }>(`/targets?siteId=${siteId}`, 1);
    expect(ofSite.map((t) => t.name)).toEqual(['alpha', 'beta']);
    // Without a limit: the shape and contents callers had before paging.
    const plain = await expectStatus<Page<unknown>>(c.admin.get('/targets'), 200);
    expect(plain.items).toHaveLength(7);
    expect(plain.nextCursor).toBeNull();
  });
});
