/**
 * The database layer (coordinator/store/db.ts) gives the same results on PostgreSQL (`pg`) and on the
 * embedded database (PGlite): rowCount as the command tag counts it (PGlite's own affectedRows is 0
 * for a SELECT, which made every scoped sync run a 400 "no such site" on the demo), the types the
 * code reads, array and JSON parameters, transactions; and on PGlite a statement on the pool inside
 * a transaction is an error, not a wait that never ends.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPg, connectPglite, type Db } from '../../coordinator/store/db.js';
import { createPgliteDatabase, type PgliteDatabase } from '../support/pglite.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

describe.each(['postgres', 'pglite'] as const)('on %s', (kind) => {
  let db: Db;
  let folder: TestDatabase | PgliteDatabase;

  beforeAll(async () => {
    if (kind === 'postgres') {
      const made = await createTestDatabase('db-drivers');
      folder = made;
      db = connectPg(made.url, 2);
    } else {
      const made = await createPgliteDatabase('db-drivers');
      folder = made;
      db = await connectPglite(join(made.dataDir, 'postgres'));
    }
    await db.query(
      `CREATE TABLE t (id uuid PRIMARY KEY, name text UNIQUE, n bigserial, at timestamptz, doc jsonb)`,
    );
  });
  afterAll(async () => {
    await db?.close();
    await folder?.drop();
  });

  const a = randomUUID();
  const b = randomUUID();
  const c = randomUUID();

  it('rowCount counts the rows a statement returned or changed', async () => {
    const insert = 'INSERT INTO t (id, name, at, doc) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING';
    expect(
      (await db.query(insert, [a, 'a', new Date('2030-01-02T03:04:05.678Z'), '{"k":[1]}'])).rowCount,
    ).toBe(1);
    expect((await db.query(insert, [b, 'b', null, null])).rowCount).toBe(1);
    expect((await db.query(insert, [c, 'a', null, null])).rowCount).toBe(0); // the name is taken
    const select = await db.query('SELECT 1 FROM t WHERE name = $1', ['a']);
    expect([select.rowCount, select.rows.length]).toEqual([1, 1]);
    expect((await db.query('SELECT 1 FROM t WHERE id = $1', [c])).rowCount).toBe(0);
    expect((await db.query('SELECT id FROM t')).rowCount).toBe(2); // without parameters
    expect((await db.query('SELECT id FROM t FOR UPDATE SKIP LOCKED', [])).rowCount).toBe(2);
    expect((await db.query(`UPDATE t SET doc = '{}' WHERE id = ANY($1)`, [[a, b, c]])).rowCount).toBe(2);
    const returning = await db.query(`UPDATE t SET name = name WHERE id = $1 RETURNING id`, [a]);
    expect([returning.rowCount, returning.rows.length]).toEqual([1, 1]);
    expect((await db.query('DELETE FROM t WHERE id = $1', [c])).rowCount).toBe(0);
    expect((await db.query('CREATE INDEX IF NOT EXISTS t_at ON t (at)')).rowCount).toBe(0);
    await db.tx(async (q) => {
      expect((await q.query('SELECT 1 FROM t WHERE name = $1', ['b'])).rowCount).toBe(1);
      expect((await q.query(`UPDATE t SET doc = $2::jsonb WHERE id = $1`, [b, '[1,2]'])).rowCount).toBe(1);
    });
  });

  it('parses int8, timestamptz, jsonb and arrays alike', async () => {
    const { rows } = await db.query<Record<string, unknown>>(
      `SELECT n, (SELECT count(*) FROM t) AS total, 9007199254740993::int8 AS big, at, doc, $2::text[] AS texts,
              ARRAY[id] AS ids, now() - at > interval '0' AS past, 1.50::numeric AS num
         FROM t WHERE id = $1`,
      [a, ['x', 'y,z', '"q"', 'back\\slash']],
    );
    const row = rows[0]!;
    expect(typeof row.n).toBe('number');
    expect(row.total).toBe(2);
    expect(row.big).toBe(9007199254740992); // a number (pg and PGlite alike), not a BigInt
    expect(row.at).toEqual(new Date('2030-01-02T03:04:05.678Z'));
    expect(row.doc).toEqual({});
    expect(row.texts).toEqual(['x', 'y,z', '"q"', 'back\\slash']);
    expect(row.ids).toEqual([a]);
    expect(row.past).toBe(false);
    expect(row.num).toBe('1.50');
  });

  it('a transaction that throws changes nothing; afterCommit hooks run only after a commit', async () => {
    const ran: string[] = [];
    await expect(
      db.tx(async (q) => {
        await q.query('DELETE FROM t');
        q.afterCommit?.(async () => void ran.push('rolled back'));
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    expect((await db.query('SELECT id FROM t', [])).rowCount).toBe(2);
    await db.tx(async (q) => {
      q.afterCommit?.(async () => void ran.push('committed'));
      await q.query('SELECT 1', []);
    });
    expect(ran).toEqual(['committed']);
  });

  it.runIf(kind === 'pglite')(
    'a statement on the pool awaited inside a transaction fails at once instead of waiting forever',
    async () => {
      const started = Date.now();
      await expect(db.tx(async () => db.query('SELECT 1', []))).rejects.toThrow(/use the transaction's q/);
      await expect(db.tx(async () => db.tx(async () => 1))).rejects.toThrow(/inside a transaction/);
      expect(Date.now() - started).toBeLessThan(5000);
      // Work started inside a transaction and not awaited by it runs once the transaction is over.
      let later: Promise<unknown> | undefined;
      await db.tx(async (q) => {
        await q.query('SELECT 1', []);
        later = new Promise((resolve) => setTimeout(resolve, 10)).then(() => db.query('SELECT 2 AS x', []));
      });
      await expect(later).resolves.toMatchObject({ rows: [{ x: 2 }] });
      expect((await db.query('SELECT 1 AS one', [])).rows).toEqual([{ one: 1 }]);
    },
  );
});
