import { randomInt } from 'node:crypto';
import { alphabetOf, fullAlphabet, type PasswordRules } from './rules.js';

/**
 * A password satisfying `rules`, from a CSPRNG. `crypto.randomInt` is unbiased (rejection
 * sampling), the required characters are placed first and the whole is shuffled with Fisher-Yates,
 * so every position is uniform.
 */
export function generatePassword(rules: PasswordRules): string {
  const chars: string[] = [];
  for (const c of ['lower', 'upper', 'digits', 'symbols'] as const) {
    const alphabet = alphabetOf(c, rules.exclude);
    for (let i = 0; i < rules[c]; i++) chars.push(pick(alphabet));
  }
  const all = fullAlphabet(rules);
  while (chars.length < rules.length) chars.push(pick(all));
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j]!, chars[i]!];
  }
  return chars.join('');
}

const pick = (alphabet: string): string => alphabet[randomInt(alphabet.length)]!;
