/**
 * Migration 5 (indexes of the operator surfaces) on the embedded database without pg_trgm: the
 * trigram indexes are skipped and everything else applies, so the coordinator still starts where
 * the extension cannot be had. Migration 9's schedule entries upsert on PGlite as on PostgreSQL. (With pg_trgm, PGlite and PostgreSQL are covered by the demo test
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
    expect(await migrate(db)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12]);
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
      ]),
    );
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
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
