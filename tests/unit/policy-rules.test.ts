import { describe, expect, it } from 'vitest';
import { constraintsOf, mergeRules, passwordProblems } from '../../coordinator/policies/constraints.js';
import { generatePassword } from '../../coordinator/policies/generate.js';
import { CHARACTER_CLASSES, PasswordRulesSchema } from '../../coordinator/policies/rules.js';

const rules = (r: Record<string, unknown> = {}) => PasswordRulesSchema.parse(r);

describe("policy rules within a target's limits", () => {
  it('reads the limits a simulated target declares in its connection', () => {
    expect(constraintsOf('simulated', { maxPasswordLength: 16, forbiddenCharacters: '"\'' })).toEqual({
      maxLength: 16,
      forbidden: '"\'',
    });
    expect(constraintsOf('simulated', {})).toEqual({});
    expect(constraintsOf('no-such-kind', {})).toEqual({});
  });

  it('merges: the shortest maximum length, forbidden characters join the exclusions', () => {
    const merged = mergeRules(rules({ length: 32, exclude: 'l' }), [
      { maxLength: 20, forbidden: '$%' },
      { maxLength: 24 },
    ]);
    expect(merged).toEqual({ ok: true, rules: expect.objectContaining({ length: 20, exclude: 'l$%' }) });
  });

  it('refuses what cannot be satisfied, saying why', () => {
    const tooShort = mergeRules(rules({ length: 24, lower: 4, upper: 4, digits: 4, symbols: 4 }), [
      { maxLength: 12 },
    ]);
    expect(tooShort.ok).toBe(false);
    expect(!tooShort.ok && tooShort.message).toMatch(/at most 12 characters.*length/);
    const noSymbols = mergeRules(rules({ symbols: 2 }), [{ forbidden: CHARACTER_CLASSES.symbols }]);
    expect(!noSymbols.ok && noSymbols.message).toMatch(/symbols/);
    const belowMinimum = mergeRules(rules(), [{ maxLength: 6 }]);
    expect(belowMinimum.ok).toBe(false);
  });

  it('generation always satisfies the merged rules', () => {
    const merged = mergeRules(rules({ length: 40, symbols: 3, digits: 2 }), [
      { maxLength: 14, forbidden: '#@!abc' },
    ]);
    if (!merged.ok) throw new Error(merged.message);
    for (let i = 0; i < 500; i++) {
      const pw = generatePassword(merged.rules);
      expect(pw).toHaveLength(14);
      expect(pw).not.toMatch(/[#@!abc]/);
      expect(
        passwordProblems(pw, rules({ length: 40, symbols: 3, digits: 2 }), [
          { maxLength: 14, forbidden: '#@!abc' },
        ]),
      ).toEqual([]);
    }
  });

  it('checks a given password against policy and target, never quoting it', () => {
    const policy = rules({ length: 12, symbols: -1, digits: 2 });
    expect(passwordProblems('abcdEfghij12', policy, [])).toEqual([]);
    const problems = passwordProblems('Secret$1', policy, [{ maxLength: 20, forbidden: '$' }]);
    expect(problems).toEqual([
      'contains a character the target forbids',
      "shorter than the policy's 12 characters",
      'needs at least 2 digits',
      'must not contain symbols',
    ]);
    expect(problems.join(' ')).not.toContain('Secret');
    // Without a policy only the target's own limits apply.
    expect(passwordProblems('x', null, [{ maxLength: 20 }])).toEqual([]);
    expect(passwordProblems('x'.repeat(21), null, [{ maxLength: 20 }])).toEqual([
      "longer than the target's maximum of 20 characters",
    ]);
  });
});
