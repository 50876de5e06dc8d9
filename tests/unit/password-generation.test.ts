import { randomBytes } from 'node:crypto';
import * as crypto from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { generatePassword } from '../../coordinator/policies/generate.js';
import { CHARACTER_CLASSES, fullAlphabet, PasswordRulesSchema } from '../../coordinator/policies/rules.js';

// The generator's only source of randomness, watched (the real function still answers).
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof crypto>();
  return { ...actual, randomInt: vi.fn(actual.randomInt) };
});

/** Pearson's chi-square of `counts` against a uniform distribution. */
function chiSquare(counts: number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const expected = total / counts.length;
  return counts.reduce((s, n) => s + (n - expected) ** 2 / expected, 0);
}

/** The chi-square value exceeded with probability 0.001 for `df` degrees of freedom (Wilson-Hilferty). */
function critical001(df: number): number {
  const z = 3.0902;
  return df * (1 - 2 / (9 * df) + z * Math.sqrt(2 / (9 * df))) ** 3;
}

/** How often each character of `alphabet` appears in `text`. */
function countsOf(alphabet: string, texts: string[]): number[] {
  const index = new Map([...alphabet].map((ch, i) => [ch, i]));
  const counts = new Array<number>(alphabet.length).fill(0);
  for (const t of texts) for (const ch of t) counts[index.get(ch)!]! += 1;
  return counts;
}

describe('password generation', () => {
  it('always satisfies the rules', () => {
    const rules = PasswordRulesSchema.parse({
      length: 12,
      lower: 2,
      upper: 3,
      digits: 2,
      symbols: 1,
      exclude: 'O0l1',
    });
    for (let i = 0; i < 2000; i++) {
      const pw = generatePassword(rules);
      expect(pw).toHaveLength(12);
      const count = (set: string) => [...pw].filter((c) => set.includes(c)).length;
      expect(count(CHARACTER_CLASSES.lower)).toBeGreaterThanOrEqual(2);
      expect(count(CHARACTER_CLASSES.upper)).toBeGreaterThanOrEqual(3);
      expect(count(CHARACTER_CLASSES.digits)).toBeGreaterThanOrEqual(2);
      expect(count(CHARACTER_CLASSES.symbols)).toBeGreaterThanOrEqual(1);
      expect(pw).not.toMatch(/[O0l1]/);
    }
  });

  it('never uses a class the rules forbid', () => {
    const rules = PasswordRulesSchema.parse({ length: 30, symbols: -1 });
    for (let i = 0; i < 500; i++) expect(generatePassword(rules)).toMatch(/^[A-Za-z0-9]+$/);
  });

  it('is uniform over the alphabet (chi-square, 10 digits)', () => {
    const rules = PasswordRulesSchema.parse({ length: 100, lower: -1, upper: -1, symbols: -1, digits: 0 });
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 200; i++) for (const c of generatePassword(rules)) counts[Number(c)]! += 1;
    const expected = 20_000 / 10;
    const chi2 = counts.reduce((s, n) => s + (n - expected) ** 2 / expected, 0);
    expect(chi2).toBeLessThan(27.88); // p = 0.001 for 9 degrees of freedom
  });

  it('is uniform over the full 90-character alphabet, where modulo bias would be large', () => {
    // byte % 90 would make 76 characters 1.5 times as likely as the other 14: chi-square about
    // 0.016 per character drawn, ~650 here, against a critical value of ~136.
    const rules = PasswordRulesSchema.parse({ length: 100, lower: 0, upper: 0, digits: 0, symbols: 0 });
    const alphabet = fullAlphabet(rules);
    expect(alphabet).toHaveLength(90);
    const passwords = Array.from({ length: 400 }, () => generatePassword(rules));
    expect(chiSquare(countsOf(alphabet, passwords))).toBeLessThan(critical001(alphabet.length - 1));
  });

  it('this uniformity check does catch modulo bias (byte % alphabet size)', () => {
    const alphabet = fullAlphabet(
      PasswordRulesSchema.parse({ length: 100, lower: 0, upper: 0, digits: 0, symbols: 0 }),
    );
    const biased = Array.from({ length: 400 }, () =>
      [...randomBytes(100)].map((b) => alphabet[b % alphabet.length]).join(''),
    );
    expect(chiSquare(countsOf(alphabet, biased))).toBeGreaterThan(critical001(alphabet.length - 1));
  });

  it('draws every character and every shuffle step from crypto.randomInt', () => {
    const randomInt = vi.mocked(crypto.randomInt);
    randomInt.mockClear();
    const rules = PasswordRulesSchema.parse({ length: 20 });
    generatePassword(rules);
    // 20 characters picked, then a Fisher-Yates shuffle of 19 swaps.
    expect(randomInt).toHaveBeenCalledTimes(39);
  });

  it('refuses rules that cannot be met, naming the field', () => {
    const r = PasswordRulesSchema.safeParse({ length: 8, lower: 3, upper: 3, digits: 3 });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['length']);
    const d = PasswordRulesSchema.safeParse({ digits: 1, exclude: '0123456789' });
    expect(d.error?.issues.map((i) => i.path[0])).toContain('digits');
  });
});
