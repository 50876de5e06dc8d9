import type { Ctx } from '../context.js';
import { countInRuns, finishRuns } from './count.js';
import { ONLINE_WINDOW_MS } from '../store/agents.js';
import { loadCredentials, saveCredentials, type CredentialRow } from '../credentials/store.js';
import { withdrawRun } from './cancel.js';
import { markRest, runsStillMarking } from './marking.js';

/** Why no agent can take a site's work now. */
export type NoAgentReason = 'site_disabled' | 'no_agent' | 'agent_disabled' | 'agents_offline';

export interface SweepResult {
  /** Items that waited RUN_AGENT_WAIT_MS for an agent: ended unsynced with the reason. */
  waited: number;
  /** Items left with nothing to do (a group's primary left the run unsettled): ended at once. */
  stranded: number;
  /** Runs closed with nothing left in them. */
  closed: number;
}

const PAGE = 1000;

/** What the sweep needs to know of an item's run. */
interface RunFacts {
  trigger: string;
  kind: 'verify' | 'change';
}
/** How long one sweep may spend on a cancelled run's withdrawal; the next sweep goes on. */
const CANCEL_BUDGET_MS = 5000;

/**
 * Makes every sync run end (docs/sync-runs.md). Runs with the reconciler (one replica at a time):
 * - records since when each site has no agent able to take its work (`sites.no_agent_since`);
 * - an item whose site has had none for RUN_AGENT_WAIT_MS, in a run at least that old, ends
 *   unsynced with the reason (`site_disabled`, `no_agent`, `agent_disabled`, `agents_offline`); its
 *   job is not withdrawn: it runs when an agent can take it, outside the run;
 * - an item left with nothing to do (idle, no pending password, nothing due of its run's kind: a
 *   change run's item waits for no verification) ends: in a sync group's run at once, a member
 *   whose primary left the run without settling its change (`primary_unsettled`: the members
 *   follow outside the run if the change turns out set); in any other run, once it is
 *   RUN_AGENT_WAIT_MS old, `not_scheduled` (a safety net);
 * - a run with nothing left in it closes; a cancelled run's withdrawal goes on; a run a stopped
 *   replica left half marked is marked on (runs/marking.ts).
 */
export async function sweepRuns(ctx: Ctx): Promise<SweepResult> {
  const now = new Date();
  const result: SweepResult = { waited: 0, stranded: 0, closed: 0 };
  const blocked = await sitesWithoutAgents(ctx, now);
  const cutoff = new Date(now.getTime() - ctx.config.RUN_AGENT_WAIT_MS);
  const overdue = [...blocked].filter(([, s]) => s.since <= cutoff);
  if (overdue.length > 0) {
    result.waited = await endItems(
      ctx,
      `JOIN sync_runs r ON r.id = c.run_id
        WHERE c.run_id IS NOT NULL AND c.site_id = ANY($1::uuid[]) AND r.finished_at IS NULL
          AND r.started_at <= $2`,
      [overdue.map(([id]) => id), cutoff.toISOString()],
      (row) => blocked.get(row.site_id)?.reason ?? null,
    );
  }
  const grace = new Date(now.getTime() - ctx.config.RECONCILE_GRACE_MS).toISOString();
  // A group's members are looked at soon; other runs (where this is only a safety net, and where a
  // run of a million items would cost a scan of them every sweep) once they are RUN_AGENT_WAIT_MS old.
  result.stranded = await endItems(
    ctx,
    `JOIN sync_runs r ON r.id = c.run_id
      WHERE c.run_id IS NOT NULL AND r.finished_at IS NULL AND r.cancelled_at IS NULL
        AND r.started_at <= CASE WHEN r.trigger = 'group' THEN $1::timestamptz ELSE $2::timestamptz END
        AND c.job_state = 'idle' AND c.pending_secret IS NULL AND c.next_change_at IS NULL
        AND (r.kind = 'change' OR c.next_verify_at IS NULL)
        AND NOT EXISTS (SELECT 1 FROM sync_groups g JOIN credentials p ON p.id = g.primary_credential_id
                         WHERE g.change_run_id = r.id AND p.run_id = r.id AND p.id <> c.id)`,
    [grace, cutoff.toISOString()],
    (row, run) =>
      row.job_state === 'idle' &&
      row.pending_secret === null &&
      row.next_change_at === null &&
      (run.kind === 'change' || row.next_verify_at === null)
        ? run.trigger === 'group'
          ? 'primary_unsettled'
          : 'not_scheduled'
        : null,
  );
  result.closed = await closeEmptyRuns(ctx, grace);
  // A run a stopped replica left half marked: marked on in the background.
  for (const runId of await runsStillMarking(ctx.db)) void markRest(ctx, runId);
  const { rows: cancelled } = await ctx.db.query<{ id: string }>(
    'SELECT id FROM sync_runs WHERE finished_at IS NULL AND cancelled_at IS NOT NULL',
  );
  for (const r of cancelled) await withdrawRun(ctx, r.id, CANCEL_BUDGET_MS);
  if (result.waited + result.stranded + result.closed > 0) ctx.log.info({ ...result }, 'sync runs swept');
  return result;
}

/**
 * Every site without an agent able to take its work, with the reason and since when (recorded the
 * first time a sweep sees it so; cleared once an agent can work again).
 */
async function sitesWithoutAgents(
  ctx: Ctx,
  now: Date,
): Promise<Map<string, { reason: NoAgentReason; since: Date }>> {
  const { rows } = await ctx.db.query<{
    id: string;
    enabled: boolean;
    no_agent_since: Date | null;
    no_agent_reported: boolean;
    agents: number;
    working: number;
    online: number;
  }>(
    `SELECT s.id, s.enabled, s.no_agent_since, s.no_agent_reported, count(a.id)::int AS agents,
            count(a.id) FILTER (WHERE a.revoked_at IS NULL AND a.enabled AND a.approved)::int AS working,
            count(a.id) FILTER (WHERE a.revoked_at IS NULL AND a.enabled AND a.approved
                                  AND a.last_heartbeat_at > $1::timestamptz)::int AS online
       FROM sites s LEFT JOIN agents a ON a.site_id = s.id GROUP BY s.id`,
    [new Date(now.getTime() - ONLINE_WINDOW_MS).toISOString()],
  );
  const blocked = new Map<string, { reason: NoAgentReason; since: Date }>();
  const start: string[] = [];
  const clear: string[] = [];
  // An outage is reported (site.no_working_agent) while the site is enabled and has agents, none of
  // which can work; once reported, its end is too (site.agent_restored), whatever it was meanwhile.
  // A new site waiting for its first agent, or one disabled on purpose, is no incident.
  const report: string[] = [];
  for (const s of rows) {
    const reason: NoAgentReason | null = !s.enabled
      ? 'site_disabled'
      : s.agents === 0
        ? 'no_agent'
        : s.working === 0
          ? 'agent_disabled'
          : s.online === 0
            ? 'agents_offline'
            : null;
    if (reason === null) {
      if (s.no_agent_since !== null) clear.push(s.id);
      continue;
    }
    if (s.no_agent_since === null) start.push(s.id);
    if (!s.no_agent_reported && (reason === 'agent_disabled' || reason === 'agents_offline'))
      report.push(s.id);
    blocked.set(s.id, { reason, since: s.no_agent_since ?? now });
  }
  if (start.length > 0) {
    await ctx.db.query(
      'UPDATE sites SET no_agent_since = $2 WHERE id = ANY($1::uuid[]) AND no_agent_since IS NULL',
      [start, now.toISOString()],
    );
  }
  if (report.length > 0) {
    await ctx.db.query('UPDATE sites SET no_agent_reported = true WHERE id = ANY($1::uuid[])', [report]);
  }
  if (clear.length > 0) {
    await ctx.db.query(
      'UPDATE sites SET no_agent_since = NULL, no_agent_reported = false WHERE id = ANY($1::uuid[])',
      [clear],
    );
  }
  return blocked;
}

/**
 * Ends the run items `where` selects (`c` = credentials, `r` = their run), page by page: each row is
 * locked and checked again (`reasonOf` says with which reason it ends, null: not any more).
 */
async function endItems(
  ctx: Ctx,
  where: string,
  params: unknown[],
  reasonOf: (row: CredentialRow, run: RunFacts) => string | null,
): Promise<number> {
  let ended = 0;
  for (;;) {
    // No order and no cursor: ended items leave the run (and the selection), so each page costs
    // what it takes, even in a run of a million items (an ordered page sorts them all).
    const { rows } = await ctx.db.query<{ id: string } & RunFacts>(
      `SELECT c.id, r.trigger, r.kind FROM credentials c ${where} LIMIT $${params.length + 1}`,
      [...params, PAGE],
    );
    if (rows.length === 0) break;
    const runs = new Map(rows.map((r) => [r.id, r]));
    const n = await ctx.db.tx(async (q) => {
      const now = new Date();
      // Locked in id order (loadCredentials), as every writer locks them: no deadlock.
      const locked = await loadCredentials(
        q,
        rows.map((r) => r.id),
        true,
      );
      const leaving = locked.flatMap((row) => {
        if (row.run_id === null) return [];
        const reason = reasonOf(row, runs.get(row.id)!);
        return reason === null ? [] : [{ row, count: 'unsynced' as const, reason }];
      });
      await countInRuns(q, leaving, now);
      await saveCredentials(
        q,
        leaving.map((l) => l.row),
      );
      return leaving.length;
    });
    ended += n;
    // A short page was the last; a page that ended nothing (rows changed meanwhile) stops this sweep.
    if (rows.length < PAGE || n === 0) break;
  }
  return ended;
}

/** Open runs (not schedule entries) that no credential counts in any more: what is missing ends unsynced. */
async function closeEmptyRuns(ctx: Ctx, before: string): Promise<number> {
  return ctx.db.tx(async (q) => {
    const { rows } = await q.query<{ id: string }>(
      `UPDATE sync_runs r SET unsynced = r.unsynced + GREATEST(0, r.impacted - r.success - r.partial - r.failed - r.unsynced)
        WHERE r.finished_at IS NULL AND r.cancelled_at IS NULL AND r.trigger <> 'schedule' AND r.started_at <= $1
          AND r.marking_after IS NULL AND NOT EXISTS (SELECT 1 FROM credentials c WHERE c.run_id = r.id)
        RETURNING r.id`,
      [before],
    );
    if (rows.length === 0) return 0;
    await finishRuns(
      q,
      rows.map((r) => r.id),
      new Date(),
    );
    ctx.log.warn({ runs: rows.map((r) => r.id) }, 'sync runs closed: nothing was left in them');
    return rows.length;
  });
}
