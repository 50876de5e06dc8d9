import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { timestamptzParser } from '../../coordinator/store/timestamptz.js';
import { adminUrl } from '../support/postgres.js';

/** The driver's own parser: taken before the coordinator's store (db.ts) puts this one in front of it. */
const driver = pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ) as (text: string) => unknown;
const parse = timestamptzParser(driver);

const same = (text: string) => {
  const ours = parse(text);
  const theirs = driver(text);
  if (theirs instanceof Date) {
    expect(ours, text).toBeInstanceOf(Date);
    expect((ours as Date).getTime(), text).toBe(theirs.getTime());
  } else {
    expect(ours, text).toEqual(theirs);
  }
};

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

describe('timestamptz parser', () => {
  it('reads what the driver reads, for ISO values with any fraction and offset', () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    for (let k = 0; k < 5_000; k++) {
      const fraction = rand(7);
      const frac = fraction === 0 ? '' : `.${String(rand(10 ** fraction)).padStart(fraction, '0')}`;
      const offsets = ['+00', '-03', '+05:30', '-09:30', '+05:45', '+14', '-12', '+01:02:03'];
      const text =
        `${pad(100 + rand(9900), 4)}-${pad(1 + rand(12))}-${pad(1 + rand(28))} ` +
        `${pad(rand(24))}:${pad(rand(60))}:${pad(rand(60))}${frac}${offsets[rand(offsets.length)]}`;
      same(text);
    }
  });

  it('leaves infinity, BC dates, early and late years and other styles to the driver', () => {
    for (const text of [
      'infinity',
      '-infinity',
      '0044-03-15 12:00:00+00 BC',
      '0099-01-01 00:00:00+00',
      '10000-01-01 00:00:00+00',
      '2026-12-07 06:48:17+0530',
      '2026-12-07 06:48:17.+00',
      '2026-12-07T06:48:17+00',
      '2026-12-07 06:48:17',
      '2026-12-07',
    ]) {
      same(text);
    }
  });

  it('gives the instants PostgreSQL stored, through the coordinator pool, in any session time zone', async () => {
    const { connectPg } = await import('../../coordinator/store/db.js');
    expect(pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ)).not.toBe(driver);
    const db = connectPg(adminUrl(), 1);
    try {
      for (const zone of ['UTC', 'Asia/Kathmandu', 'America/St_Johns']) {
        const { rows } = await db.tx(async (q) => {
          await q.query(`SET LOCAL TIME ZONE '${zone}'`);
          return q.query<{ at: Date; ms: number; inf: unknown }>(
            `SELECT t AS at, (extract(epoch FROM t) * 1000)::float8 AS ms, 'infinity'::timestamptz AS inf
               FROM (VALUES ('2026-12-07 06:48:17.123456+00'::timestamptz), ('1999-12-31 23:59:59.9+00'),
                            ('2026-03-29 01:30:00+01')) AS v(t)`,
          );
        });
        for (const r of rows) expect(r.at.getTime()).toBe(Math.trunc(r.ms));
        expect(rows[0]!.inf).toBe(Infinity);
      }
    } finally {
      await db.close();
    }
  });
});
