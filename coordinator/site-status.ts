import type { Ctx } from './context.js';
import { refreshStatus } from './status.js';
import { saveCredentials, selectCredentials } from './store/credentials.js';
import { siteFacts } from './store/sites.js';

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
