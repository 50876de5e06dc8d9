import { WHOLE_NUMBER } from '../../shared/contracts/whole-number.js';
import { readText } from '../input.js';
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

export function need<T>(value: T | undefined, what: string): T {
  if (value === undefined || value === '') throw new Error(`missing ${what} (see syncctl --help)`);
  return value;
}

/**
 * An id given on the command line, as one path segment: percent-encoded, so that `../sites/<id>` or
 * `x?force=true` stays an id the coordinator refuses (400 on `params.id`) instead of another path.
 */
export function needId(value: string | undefined, what = 'ID'): string {
  const id = need(value, what);
  // A URL reads `.` and `..` as path steps even percent-encoded: they are never ids.
  if (id === '.' || id === '..') throw new Error(`${what}: '${id}' is not an id (see syncctl --help)`);
  return encodeURIComponent(id);
}

export function query(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams(
    Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined),
  );
  const s = q.toString();
  return s ? `?${s}` : '';
}

export const apiPath = (p: string) => `/api/v1${p}`;

/**
 * The password of --password-stdin (its last line ending dropped) or --password; undefined when
 * neither is given, refused when both are. An empty one is refused (where a password may be left
 * out, `generated` says so: it would have asked for a generated one), and so is one with U+FFFD,
 * what a terminal or shell makes of bytes that are not UTF-8.
 */
export function passwordFrom(flags: Flags, generated = false): string | undefined {
  const stdin = flags['password-stdin'] === true;
  if (stdin && flags.password !== undefined)
    throw new Error('--password and --password-stdin: give one of them, not both');
  const password = stdin ? readText(0, '--password-stdin').replace(/\r?\n$/, '') : str(flags.password);
  const what = stdin ? '--password-stdin' : '--password';
  if (password === '')
    throw new Error(
      `${what}: the password is empty${generated ? ' (leave it out to have one generated)' : ''}`,
    );
  if (password?.includes('\ufffd'))
    throw new Error(`${what}: the password holds U+FFFD: bytes that were not UTF-8?`);
  return password;
}

/**
 * A whole-number flag (`--uses 5`), checked here: a typo is a usage error naming the flag, not a
 * value the API refuses. Undefined when the flag is not given.
 */
export function intFlag(flags: Flags, name: string): number | undefined {
  const text = str(flags[name]);
  if (text === undefined) return undefined;
  if (!WHOLE_NUMBER.test(text)) throw new Error(`--${name}: expected a whole number, got '${text}'`);
  return Number(text);
}

/**
 * The string flags given, under the API's names (`{name: 'name', primary: 'primaryCredentialId'}`):
 * the fields of a PATCH that changes what was asked and nothing else.
 */
export function givenFlags(flags: Flags, names: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(names).flatMap(([flag, field]) => {
      const value = str(flags[flag]);
      return value === undefined ? [] : [[field, value]];
    }),
  );
}

/** A field per line: `key   value` (objects as JSON). */
export const fields = (r: object): string => {
  const width = Math.max(20, ...Object.keys(r).map((k) => k.length));
  return Object.entries(r)
    .map(
      ([k, v]) => `${k.padEnd(width)} ${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`,
    )
    .join('\n');
};

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
