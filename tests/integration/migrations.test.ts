/**
 * Migration 5 (indexes of the operator surfaces) on the embedded database without pg_trgm: the
 * trigram indexes are skipped and everything else applies, so the coordinator still starts where
 * the extension cannot be had. Migration 9's schedule entries upsert on PGlite as on PostgreSQL; migration 10's event triggers write
 * events with their fact, and a rolled-back fact leaves none. (With pg_trgm, PGlite and PostgreSQL are covered by the demo test
 * and every other test.)
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { connectPglite } from '../../coordinator/store/db.js';
import { migrate } from '../../coordinator/store/migrations.js';
import { ScheduleCounts } from '../../coordinator/runs/schedule-counts.js';
import { createLogger } from '../../shared/logger.js';

it('applies every migration on PGlite without pg_trgm; a search still works', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'migrations-'));
  const db = await connectPglite(dir, { trigrams: false });
  try {
    expect(await migrate(db)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16, 17, 18, 19, 21, 22, 23, 24,
    ]);
    const ext = await db.query<{ extname: string }>('SELECT extname FROM pg_extension');
    expect(ext.rows.map((r) => r.extname)).not.toContain('pg_trgm');
    const indexes = (await db.query<{ indexname: string }>('SELECT indexname FROM pg_indexes')).rows.map(
      (r) => r.indexname,
    );
    expect(indexes).toEqual(
      expect.arrayContaining([
        'credentials_suspended_site',
        'credentials_last_verified',
        'sync_runs_site',
        'sync_runs_schedule_day',
        'credentials_site_id',
        'credentials_in_flight_id',
      ]),
    );
    expect(indexes).not.toContain('credentials_in_flight');
    expect(indexes).not.toContain('credential_names_trgm');
    const search = await db.query(
      `SELECT count(*)::int AS n FROM credential_names WHERE username ILIKE '%x%'`,
    );
    expect(search.rows).toEqual([{ n: 0 }]);
    expect(await migrate(db)).toEqual([]);

    // The day's schedule entry is one row, found again by its unique index (migration 9) on PGlite too.
    const counts = new ScheduleCounts(db, createLogger('test', 'silent'));
    const siteId = randomUUID();
    const at = new Date();
    counts.add(siteId, 'verify', 'success', at);
    await counts.flush();
    counts.add(siteId, 'verify', 'failed', at);
    counts.add(siteId, 'verify', 'success', at);
    await counts.close();
    const entries = await db.query<{
      trigger: string;
      impacted: number;
      success: number;
      failed: number;
      outcome: string;
    }>(`SELECT trigger, impacted, success, failed, outcome FROM sync_runs WHERE scope->>'siteId' = $1`, [
      siteId,
    ]);
    expect(entries.rows).toEqual([
      { trigger: 'schedule', impacted: 3, success: 2, failed: 1, outcome: 'partial' },
    ]);

    // Migration 10: the outbox triggers run on PGlite; an event commits or rolls back with its fact.
    const agentId = randomUUID();
    await db.query(`INSERT INTO sites (id, name) VALUES ($1, 'events-site')`, [siteId]);
    await db.query(
      `INSERT INTO agents (id, site_id, name, host, version, concurrency, approved, token_hash, last_heartbeat_at)
       VALUES ($1, $2, 'a1', 'h1', '1.0.0', 1, false, 'x', now())`,
      [agentId, siteId],
    );
    await db
      .tx(async (q) => {
        await q.query('UPDATE agents SET offline_since = now() WHERE id = $1', [agentId]);
        throw new Error('rolled back');
      })
      .catch(() => undefined);
    await db.query('UPDATE agents SET offline_since = now() WHERE id = $1', [agentId]);
    await db.query('UPDATE agents SET last_heartbeat_at = now() + interval $$1 second$$ WHERE id = $1', [
      agentId,
    ]);
    const events = await db.query<{ type: string; subject_id: string }>(
      'SELECT type, subject_id FROM events ORDER BY id',
    );
    expect(events.rows).toEqual(
      ['agent.awaiting_approval', 'agent.offline', 'agent.online'].map((type) => ({
        type,
        subject_id: agentId,
      })),
    );
    const agent = await db.query('SELECT offline_since FROM agents WHERE id = $1', [agentId]);
    expect(agent.rows).toEqual([{ offline_since: null }]);
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
