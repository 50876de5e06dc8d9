import type { z } from 'zod';
import { SyncError, type FieldIssue } from './errors.js';
import { cutText, inputIssues } from './text.js';

/** The longest message of one issue (zod's "Unrecognized keys: …" lists every key it found). */
const MAX_MESSAGE = 300;

/** Turns zod issues into `field: message` pairs; never echoes the rejected value. */
export function fieldIssues(error: z.ZodError, root?: string): FieldIssue[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    const field = [root, path].filter(Boolean).join('.') || root || '(root)';
    return { field, message: cutText(issue.message, MAX_MESSAGE) };
  });
}

/** The 400 of bad input: VALIDATION_FAILED naming every bad field. */
export function invalidInput(issues: FieldIssue[], root?: string): SyncError {
  const summary = issues.map((i) => `${i.field}: ${i.message}`).join('; ');
  return new SyncError('VALIDATION_FAILED', `invalid ${root ?? 'input'}: ${summary}`, { issues });
}

/**
 * Judges `input` by `schema`: first every string in it must be text PostgreSQL can store (no NUL,
 * no lone surrogate) and it must not nest deeper than 64 levels (shared/text.ts), whatever the
 * schema says of it, so no schema can let one through; then the schema. Returns the parsed value
 * or the issues naming each bad field.
 */
export function judge<S extends z.ZodType>(
  schema: S,
  input: unknown,
  root?: string,
): { ok: true; value: z.output<S> } | { ok: false; issues: FieldIssue[] } {
  const text = inputIssues(input, root ?? '(root)');
  if (text.length > 0) return { ok: false, issues: text };
  const result = schema.safeParse(input);
  return result.success
    ? { ok: true, value: result.data }
    : { ok: false, issues: fieldIssues(result.error, root) };
}

/** Parses `input` with `schema` (see judge) or throws VALIDATION_FAILED naming every bad field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, root?: string): z.output<S> {
  const judged = judge(schema, input, root);
  if (judged.ok) return judged.value;
  throw invalidInput(judged.issues, root);
}
