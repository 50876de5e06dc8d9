import { z } from 'zod';

/** A whole number in decimal digits (at most 15: every such number is exact in a double). */
export const WHOLE_NUMBER = /^\d{1,15}$/;

/**
 * A whole number given as text (a query string's, a setting's), in decimal digits only:
 * `z.coerce.number` also took `0x10`, ` 5`, `1e2` and `12.0`.
 */
export const wholeNumber = (min: number, max: number) =>
  z
    .string()
    .regex(WHOLE_NUMBER, { message: 'expected a whole number (digits only)' })
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
