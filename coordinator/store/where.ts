/**
 * A WHERE clause built from optional conditions (the filters a list request gives). Each condition
 * numbers its own placeholders from `$1`; they are renumbered as it joins the clause, so conditions
 * compose without anyone counting parameters. Only the filters given go into the SQL, so each can
 * use its index.
 */
export class Where {
  readonly params: unknown[] = [];
  private readonly conditions: string[] = [];

  add(sql: string, ...values: unknown[]): void {
    const n = this.params.length;
    this.params.push(...values);
    this.conditions.push(sql.replace(/\$(\d+)/g, (_, i: string) => `$${n + Number(i)}`));
  }

  /** A placeholder for one more parameter after the conditions' (a LIMIT, say). */
  param(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  /** `WHERE …`, or nothing without conditions. */
  toString(): string {
    return this.conditions.length > 0 ? `WHERE ${this.conditions.join(' AND ')}` : '';
  }
}

/** An ILIKE pattern that matches `text` anywhere in a value, its own `%`, `_` and `\` taken literally. */
export const containsPattern = (text: string): string => `%${text.replace(/[\\%_]/g, (m) => `\\${m}`)}%`;
