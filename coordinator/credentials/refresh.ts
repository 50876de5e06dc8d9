import type { Ctx } from '../context.js';
import { refreshStatus } from './status.js';
import type { Queryable } from '../store/db.js';
import { saveCredentials, selectCredentials, type CredentialRow } from './store.js';
import { siteFacts } from '../store/sites.js';

const PAGE = 2000;

/**
 * Recomputes the status of every credential of a site after something site-wide changed (an agent
 * enrolled, enabled, disabled or revoked; the site enabled or disabled), in pages, so
 * `agent_disabled` appears and goes away at once. Returns how many statuses changed.
 */
export async function refreshSiteStatuses(ctx: Ctx, siteId: string): Promise<number> {
  let after = '00000000-0000-0000-0000-000000000000';
  let changed = 0;
  for (;;) {
    const { count, last } = await ctx.db.tx(async (q) => {
      const now = new Date();
      const rows = await selectCredentials(
        q,
        `WHERE c.site_id = $1 AND c.id > $2 ORDER BY c.id LIMIT $3 FOR UPDATE OF c`,
        [siteId, after, PAGE],
      );
      const facts = (await siteFacts(q, [siteId])).get(siteId);
      if (!facts) return { count: 0, last: null };
      const dirty = rows.filter((r) => refreshStatus(r, facts, now));
      await saveCredentials(q, dirty);
      changed += dirty.length;
      return { count: rows.length, last: rows.at(-1)?.id ?? null };
    });
    if (count < PAGE || !last) break;
    after = last;
  }
  return changed;
}

/** Recomputes the statuses of `rows` (locked by the caller's transaction) and saves them. */
export async function refreshAndSave(q: Queryable, rows: CredentialRow[], now: Date): Promise<void> {
  const facts = await siteFacts(
    q,
    rows.map((r) => r.site_id),
  );
  for (const r of rows) refreshStatus(r, facts.get(r.site_id)!, now);
  await saveCredentials(q, rows);
}

/**
 * Recomputes the status of every credential of a target after what the target can do changed,
 * inside the caller's transaction (the rows locked).
 */
export async function refreshTargetStatuses(
  q: Queryable,
  target: { id: string; site_id: string },
): Promise<void> {
  const rows = await selectCredentials(q, 'WHERE c.target_id = $1 ORDER BY c.id FOR UPDATE OF c', [
    target.id,
  ]);
  const facts = (await siteFacts(q, [target.site_id])).get(target.site_id)!;
  const now = new Date();
  for (const row of rows) refreshStatus(row, facts, now);
  await saveCredentials(q, rows);
}
