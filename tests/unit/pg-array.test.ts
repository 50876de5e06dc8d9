import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgArray } from '../../coordinator/store/pg-array.js';
import { adminUrl } from '../support/postgres.js';

const TEXTS = [
  'plain',
  '',
  'NULL',
  'null',
  ' spaced out ',
  'a,b',
  '{braces}',
  'say "hi"',
  'back\\slash',
  '\\"both\\"',
  'line\nbreak\ttab',
  'ünïcødé ✓ 𝄞',
  "it's",
];

describe('pgArray', () => {
  let client: pg.Client;
  beforeAll(async () => {
    client = new pg.Client({ connectionString: adminUrl() });
    await client.connect();
  });
  afterAll(() => client.end());

  it('writes text PostgreSQL reads back exactly, nulls included', async () => {
    const values = [...TEXTS, null, undefined];
    const { rows } = await client.query<{ v: string | null }>('SELECT unnest($1::text[]) AS v', [
      pgArray(values, 'text'),
    ]);
    expect(rows.map((r) => r.v)).toEqual([...TEXTS, null, null]);
  });

  it('writes uuids, ints, booleans and timestamps (Date or ISO text) unquoted', async () => {
    const at = new Date('2026-12-07T06:48:17.123Z');
    const { rows } = await client.query<{
      u: string | null;
      i: number | null;
      b: boolean | null;
      t: Date | null;
    }>('SELECT * FROM unnest($1::uuid[], $2::int[], $3::boolean[], $4::timestamptz[]) AS x(u, i, b, t)', [
      pgArray(['0b0e3f0a-1111-4222-8333-944455556666', null, '00000000-0000-0000-0000-000000000000'], 'uuid'),
      pgArray([0, -42, null], 'int'),
      pgArray([true, false, null], 'boolean'),
      pgArray([at, null, at.toISOString()], 'timestamptz'),
    ]);
    expect(rows.map((r) => [r.u, r.i, r.b, r.t?.getTime() ?? null])).toEqual([
      ['0b0e3f0a-1111-4222-8333-944455556666', 0, true, at.getTime()],
      [null, -42, false, null],
      ['00000000-0000-0000-0000-000000000000', null, null, at.getTime()],
    ]);
  });

  it('an empty column is an empty array', async () => {
    const { rows } = await client.query<{ n: number }>('SELECT cardinality($1::text[]) AS n', [
      pgArray([], 'text'),
    ]);
    expect(rows[0]!.n).toBe(0);
  });
});
