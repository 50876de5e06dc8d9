import type { PasswordConstraints } from '../../shared/targets/spec.js';
import { isSupportedKind, targetSpec } from '../../shared/targets/index.js';
import { CHARACTER_CLASSES, PasswordRulesSchema, type CharacterClass, type PasswordRules } from './rules.js';

const CLASSES = Object.keys(CHARACTER_CLASSES) as CharacterClass[];
const ALPHABET = CLASSES.map((c) => CHARACTER_CLASSES[c]).join('');

/** A target's own password limits (none for a kind that declares none). */
export function constraintsOf(kind: string, connection: unknown): PasswordConstraints {
  if (!isSupportedKind(kind)) return {};
  const spec = targetSpec(kind);
  if (!spec.passwordConstraints) return {};
  const parsed = spec.connectionSchema.safeParse(connection);
  return parsed.success ? spec.passwordConstraints(parsed.data) : {};
}

export type Merged = { ok: true; rules: PasswordRules } | { ok: false; message: string };

const describe = (c: PasswordConstraints): string =>
  [
    c.maxLength === undefined ? '' : `at most ${c.maxLength} characters`,
    c.forbidden ? `no ${c.forbiddenText ?? JSON.stringify(c.forbidden)}` : '',
  ]
    .filter(Boolean)
    .join(', ');

/**
 * The rules generation must satisfy for a policy on targets with these constraints: the length
 * shrinks to the shortest maximum, forbidden characters join the exclusions. Not ok when the
 * result cannot be satisfied (too short for the required characters, a required class all
 * forbidden, …), with a message saying why.
 */
export function mergeRules(rules: PasswordRules, constraints: PasswordConstraints[]): Merged {
  let length = rules.length;
  let exclude = rules.exclude;
  for (const c of constraints) {
    if (c.maxLength !== undefined) length = Math.min(length, c.maxLength);
    for (const ch of c.forbidden ?? '') if (!exclude.includes(ch)) exclude += ch;
  }
  // Only characters generation could pick matter for it (a target may forbid all control characters).
  if (exclude.length > 200) exclude = [...new Set(exclude)].filter((ch) => ALPHABET.includes(ch)).join('');
  const parsed = PasswordRulesSchema.safeParse({ ...rules, length, exclude });
  if (parsed.success) return { ok: true, rules: parsed.data };
  const why = parsed.error.issues.map((i) => `${i.path.join('.') || 'rules'} ${i.message}`).join('; ');
  const limits = constraints.map(describe).filter(Boolean);
  return {
    ok: false,
    message: `the policy cannot be met${limits.length ? ` within the target's limits (${limits.join('; ')})` : ''}: ${why}`,
  };
}

/**
 * What is wrong with a password an operator gives (empty = acceptable): the target's own limits
 * always; with a policy, also its length (shrunk to the target's maximum), exclusions and class
 * minimums. Messages name the rule, never the password.
 */
export function passwordProblems(
  password: string,
  policy: PasswordRules | null,
  constraints: PasswordConstraints[],
): string[] {
  const problems: string[] = [];
  const chars = [...password];
  const max = Math.min(...constraints.map((c) => c.maxLength ?? Infinity));
  if (chars.length > max) problems.push(`longer than the target's maximum of ${max} characters`);
  const forbids = constraints.filter((c) => c.forbidden && chars.some((ch) => c.forbidden!.includes(ch)));
  if (forbids.length > 0) {
    const named = forbids.flatMap((c) => (c.forbiddenText ? [c.forbiddenText] : []));
    problems.push(
      `contains a character the target forbids${named.length > 0 ? ` (${[...new Set(named)].join(', ')})` : ''}`,
    );
  }
  if (!policy) return problems;
  const min = Math.min(policy.length, max);
  if (chars.length < min) problems.push(`shorter than the policy's ${min} characters`);
  if (chars.some((ch) => policy.exclude.includes(ch)))
    problems.push('contains a character the policy excludes');
  for (const c of CLASSES) {
    const n = chars.filter((ch) => CHARACTER_CLASSES[c].includes(ch)).length;
    if (policy[c] === -1 && n > 0) problems.push(`must not contain ${c}`);
    else if (n < policy[c]) problems.push(`needs at least ${policy[c]} ${c}`);
  }
  return problems;
}
