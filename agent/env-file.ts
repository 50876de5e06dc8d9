import { readFile } from 'node:fs/promises';
import { SyncError } from '../shared/errors.js';
import { writeFileAtomic } from './atomic-file.js';

/**
 * The agent's configuration file (`/etc/sync-agent/agent.env` in the package): `KEY=value` lines as
 * systemd's EnvironmentFile= reads them. Blank lines and lines starting with `#` or `;` are
 * comments; a value may be wrapped in double quotes (with `\"` and `\\`) or single quotes (taken as
 * is); unquoted values are trimmed. Line continuations are not supported.
 */
const LINE = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/;

function unquote(raw: string, where: string): string {
  if (raw.startsWith("'")) {
    if (raw.length < 2 || !raw.endsWith("'")) throw invalid(`${where}: a ' without its closing '`);
    return raw.slice(1, -1);
  }
  if (!raw.startsWith('"')) return raw;
  let out = '';
  for (let i = 1; i < raw.length; i++) {
    const ch = raw[i]!;
    if (ch === '\\' && i + 1 < raw.length) {
      out += raw[++i];
    } else if (ch === '"') {
      if (i !== raw.length - 1) throw invalid(`${where}: text after the closing "`);
      return out;
    } else out += ch;
  }
  throw invalid(`${where}: a " without its closing "`);
}

const invalid = (message: string) => new SyncError('CONFIG_INVALID', message);

/** The variables a configuration file sets; CONFIG_INVALID naming the file and line it cannot read. */
export function parseEnvFile(text: string, file = 'configuration file'): Record<string, string> {
  const values: Record<string, string> = {};
  text.split(/\r?\n/).forEach((line, index) => {
    const where = `${file} line ${index + 1}`;
    if (/^\s*([#;].*)?$/.test(line)) return;
    if (line.endsWith('\\')) throw invalid(`${where}: continued lines (a trailing \\) are not supported`);
    const m = LINE.exec(line);
    if (!m) throw invalid(`${where}: expected NAME=value`);
    values[m[1]!] = unquote(m[2]!, where);
  });
  return values;
}

/** A value as the file stores it: bare when safe, else double-quoted. */
function quote(value: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]*$/.test(value)) return value;
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/**
 * `text` with each of `updates` set: an existing line of the variable is replaced in place (later
 * ones removed), a new one is appended; `undefined` removes the variable. Comments stay.
 */
export function setEnvValues(text: string, updates: Record<string, string | undefined>): string {
  const done = new Set<string>();
  const lines: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const name = /^\s*[#;]/.test(line) ? undefined : LINE.exec(line)?.[1];
    if (name === undefined || !(name in updates)) {
      lines.push(line);
      continue;
    }
    const value = updates[name];
    if (done.has(name) || value === undefined) continue;
    done.add(name);
    lines.push(`${name}=${quote(value)}`);
  }
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  for (const [name, value] of Object.entries(updates)) {
    if (!done.has(name) && value !== undefined) lines.push(`${name}=${quote(value)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The file's text, or '' when it does not exist yet. */
export async function readEnvText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw new SyncError('CONFIG_INVALID', `${file}: cannot read it (${(err as NodeJS.ErrnoException).code})`);
  }
}

/** Writes the configuration atomically, readable by its owner only (it may hold a token). */
export function writeEnvText(file: string, text: string): Promise<void> {
  return writeFileAtomic(file, text, 0o600);
}
