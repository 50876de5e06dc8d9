import { z } from 'zod';

export const CHARACTER_CLASSES = {
  lower: 'abcdefghijklmnopqrstuvwxyz',
  upper: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
  digits: '0123456789',
  symbols: '!#$%&()*+,-./:;<=>?@[]^_{|}~',
} as const;
export type CharacterClass = keyof typeof CHARACTER_CLASSES;

/** Password generation rules of a policy. */
export const PasswordRulesSchema = z
  .strictObject({
    length: z.number().int().min(8).max(256).default(24),
    /** Minimum count of each class; 0 = the class may appear, -1 = it must not. */
    lower: z.number().int().min(-1).max(64).default(1),
    upper: z.number().int().min(-1).max(64).default(1),
    digits: z.number().int().min(-1).max(64).default(1),
    symbols: z.number().int().min(-1).max(64).default(1),
    /** Characters never used. */
    exclude: z.string().max(200).default(''),
  })
  .superRefine((r, ctx) => {
    const required = (['lower', 'upper', 'digits', 'symbols'] as const).reduce(
      (n, c) => n + Math.max(0, r[c]),
      0,
    );
    if (required > r.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['length'],
        message: `must be at least the sum of required characters (${required})`,
      });
    }
    for (const c of ['lower', 'upper', 'digits', 'symbols'] as const) {
      if (r[c] > 0 && alphabetOf(c, r.exclude).length === 0) {
        ctx.addIssue({
          code: 'custom',
          path: [c],
          message: `requires ${c} but every ${c} character is excluded`,
        });
      }
    }
    if (fullAlphabet(r).length < 2) {
      ctx.addIssue({ code: 'custom', path: ['exclude'], message: 'leaves fewer than 2 usable characters' });
    }
  });
export type PasswordRules = z.output<typeof PasswordRulesSchema>;

export const DEFAULT_RULES: PasswordRules = PasswordRulesSchema.parse({});

export function alphabetOf(c: CharacterClass, exclude: string): string {
  return [...CHARACTER_CLASSES[c]].filter((ch) => !exclude.includes(ch)).join('');
}

export function fullAlphabet(r: Pick<PasswordRules, CharacterClass | 'exclude'>): string {
  return (['lower', 'upper', 'digits', 'symbols'] as const)
    .filter((c) => r[c] >= 0)
    .map((c) => alphabetOf(c, r.exclude))
    .join('');
}
