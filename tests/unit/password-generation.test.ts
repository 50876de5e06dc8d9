import { describe, expect, it } from 'vitest';
import { generatePassword } from '../../coordinator/policies/generate.js';
import { CHARACTER_CLASSES, PasswordRulesSchema } from '../../coordinator/policies/rules.js';

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

  it('refuses rules that cannot be met, naming the field', () => {
    const r = PasswordRulesSchema.safeParse({ length: 8, lower: 3, upper: 3, digits: 3 });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['length']);
    const d = PasswordRulesSchema.safeParse({ digits: 1, exclude: '0123456789' });
    expect(d.error?.issues.map((i) => i.path[0])).toContain('digits');
  });
});
