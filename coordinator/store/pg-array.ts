/** Column types a pgArray literal is written for. */
export type ArrayElementType = 'uuid' | 'text' | 'int' | 'boolean' | 'timestamptz';

const NEEDS_ESCAPE = /["\\]/;

/**
 * One column of many rows as a PostgreSQL array literal (`{a,b,NULL}`), for a `$n::type[]`
 * parameter of an `unnest(...)` write. The driver makes the same literal from a JS array, but
 * quotes and escapes every element with two regular expressions and grows the text one element at
 * a time; a batch of results writes a few thousand values per statement, so this writes it in one
 * join. Text is quoted (with `\` before `"` and `\`); uuids, numbers, booleans and timestamps
 * (Date, or ISO text) need no quotes.
 */
export function pgArray(values: readonly unknown[], type: ArrayElementType): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) parts[i] = 'NULL';
    else if (type === 'text') {
      const s = String(v);
      parts[i] = `"${NEEDS_ESCAPE.test(s) ? s.replace(/["\\]/g, '\\$&') : s}"`;
    } else if (v instanceof Date) parts[i] = v.toISOString();
    else parts[i] = String(v);
  }
  return `{${parts.join(',')}}`;
}
