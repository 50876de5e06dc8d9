import { z } from 'zod';
import type { FieldIssue } from '../../shared/errors.js';
import { judge, parseOrThrow } from '../../shared/validation.js';

/** An item of a batch refused on its own: its place in the list, what was sent, and why. */
export interface RefusedItem {
  index: number;
  /** The item as sent (unknown shape: it failed its schema). */
  sent: unknown;
  issues: FieldIssue[];
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Parses a batch body `{[field]: item[], …}` item by item: the body as a whole (its other keys, the
 * number of items) must match `schema` (400 otherwise, as any body); each item is judged on its own
 * by the list's item schema (text first, then the schema: shared/validation.ts), and a bad item is
 * returned in `refused` instead of failing the batch, so one malformed item never costs the others.
 */
export function parseBatch(
  schema: z.ZodType,
  raw: unknown,
  field: string,
): { body: Record<string, unknown>; refused: RefusedItem[] } {
  // The common case, a batch with nothing wrong: judged whole, at the cost of one parse.
  const whole = judge(schema, raw, 'body');
  if (whole.ok) return { body: whole.value as Record<string, unknown>, refused: [] };
  const object = schema as z.ZodObject;
  const list = object.shape[field] as z.ZodArray;
  const items = isRecord(raw) ? raw[field] : undefined;
  if (!Array.isArray(items)) return { body: parseOrThrow(schema, raw, 'body') as never, refused: [] };
  // The list's own checks (how many items) on a list of stand-ins: each item by its index.
  const lengthOnly = list.clone({ ...list.def, element: z.number() } as typeof list.def);
  const body = parseOrThrow(
    object.extend({ [field]: lengthOnly }),
    { ...(raw as Record<string, unknown>), [field]: items.map((_, i) => i) },
    'body',
  ) as Record<string, unknown>;
  const valid: unknown[] = [];
  const refused: RefusedItem[] = [];
  items.forEach((item: unknown, index) => {
    const judged = judge(list.element as z.ZodType, item, `body.${field}.${index}`);
    if (judged.ok) valid.push(judged.value);
    else refused.push({ index, sent: item, issues: judged.issues });
  });
  return { body: { ...body, [field]: valid }, refused };
}
