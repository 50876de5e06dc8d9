import type { z } from 'zod';
import { SyncError, type FieldIssue } from './errors.js';

/** Turns zod issues into `field: message` pairs; never echoes the rejected value. */
export function fieldIssues(error: z.ZodError, root?: string): FieldIssue[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    const field = [root, path].filter(Boolean).join('.') || root || '(root)';
    return { field, message: issue.message };
  });
}

/** Parses `input` with `schema` or throws VALIDATION_FAILED naming every bad field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, root?: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = fieldIssues(result.error, root);
  const summary = issues.map((i) => `${i.field}: ${i.message}`).join('; ');
  throw new SyncError('VALIDATION_FAILED', `invalid ${root ?? 'input'}: ${summary}`, { issues });
}
