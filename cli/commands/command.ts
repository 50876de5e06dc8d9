import { readFileSync } from 'node:fs';
import type { ApiClient } from '../client.js';

export type Flags = Record<string, string | boolean | undefined>;
export type Row = Record<string, unknown>;

/** What a command's handler gets: the API, its positional arguments (after its name) and the flags. */
export interface CommandContext {
  api: ApiClient;
  args: string[];
  flags: Flags;
  /** Prints `value` as JSON with --json, else what `render` returns. */
  out(value: unknown, render: () => string): void;
  /** A paged list: one page from --cursor (the next cursor printed under the table), or every page with --all. */
  list<T extends object>(
    path: string,
    params: Record<string, string | undefined>,
    columns: string[],
    row?: (item: T) => Row,
  ): Promise<number>;
}

/**
 * One line of the command table (cli/commands/index.ts). `arguments` and `options` are usage syntax,
 * e.g. `ID` and `[--ttl SECONDS] [--uses N]`: the usage text prints them, and the option parser takes
 * each `--flag` from them (a string when a value follows it, else a boolean; cli/options.ts).
 */
export interface Command {
  name: string;
  arguments?: string;
  options?: string;
  summary: string;
  /** Resolves to the exit code (0 ok, 3 work finished with failures). */
  handler(ctx: CommandContext): Promise<number>;
}

export const str = (v: string | boolean | undefined) => (typeof v === 'string' ? v : undefined);

export function need(value: string | undefined, what: string): string {
  if (!value) throw new Error(`missing ${what} (see syncctl --help)`);
  return value;
}

export function query(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams(
    Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined),
  );
  const s = q.toString();
  return s ? `?${s}` : '';
}

export const apiPath = (p: string) => `/api/v1${p}`;

export function passwordFrom(flags: Flags): string | undefined {
  if (flags['password-stdin']) return readFileSync(0, 'utf8').replace(/\r?\n$/, '');
  return str(flags.password);
}

/** A field per line: `key   value` (objects as JSON). */
export const fields = (r: object): string =>
  Object.entries(r)
    .map(([k, v]) => `${k.padEnd(20)} ${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`)
    .join('\n');

/** `--connection` / `--rules` JSON, or a clear error naming the flag. */
export function jsonFlag(flags: Flags, name: string): unknown {
  const text = str(flags[name]);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Error(`--${name}: not valid JSON`);
  }
}
