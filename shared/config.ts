import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { wholeNumber } from './contracts/whole-number.js';
import { SyncError } from './errors.js';

/**
 * Reads options from environment variables once, at start-up, into typed config. A wrong or
 * missing variable stops the process with a message naming the variable (never its value: some
 * variables hold secrets).
 */
export function loadEnv<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv = process.env): z.output<S> {
  const input: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    input[key] = value === undefined || value === '' ? undefined : value;
  }
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({
    field: issue.path.map(String).join('.'),
    message: issue.message,
  }));
  const lines = issues.map((i) => `  ${i.field}: ${i.message}`).join('\n');
  throw new SyncError('CONFIG_INVALID', `invalid configuration:\n${lines}`, { issues });
}

/**
 * A whole number from an environment string, in digits (spaces around them allowed): `0x10`, `1e2`
 * and `12.0` are refused, as a query's numbers are (contracts/whole-number.ts).
 */
export const envInt = (min: number, max: number) => z.string().trim().pipe(wholeNumber(min, max));

/** A boolean from an environment string: true/false/1/0/yes/no, in any case (`FALSE` too). */
export const envBool = z
  .string()
  .transform((v) => v.trim().toLowerCase())
  .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'expected true or false' }))
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

export const envUrl = (protocols: string[]) =>
  z
    .url({ message: `expected a URL (${protocols.join(', ')})` })
    .refine((v) => protocols.some((p) => v.startsWith(`${p}:`)), {
      message: `expected a URL starting with ${protocols.map((p) => `${p}://`).join(' or ')}`,
    });

export const LogLevelSchema = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** CONFIG_INVALID naming one variable, worded like loadEnv's. */
export function configError(variable: string, message: string): SyncError {
  return new SyncError('CONFIG_INVALID', `invalid configuration:\n  ${variable}: ${message}`, {
    issues: [{ field: variable, message }],
  });
}

/**
 * The contents of the file a variable names; CONFIG_INVALID naming the variable, the path and why
 * (ENOENT, EACCES: e.g. a file only root may read while the process runs as a service user).
 */
export function readFileSetting(variable: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const uid = typeof process.getuid === 'function' ? ` as uid ${process.getuid()}` : '';
    const why = code === 'EACCES' ? `permission denied${uid}` : code === 'ENOENT' ? 'no such file' : code;
    throw configError(variable, `cannot read the file it names, ${file} (${why})`);
  }
}

const PEM = {
  certificate: /-----BEGIN CERTIFICATE-----/,
  'private key': /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
} as const;

/** A PEM file setting: read now, and refused naming its variable when it holds no such PEM block. */
export function readPemSetting(variable: string, file: string, kind: keyof typeof PEM): Buffer {
  const pem = readFileSetting(variable, file);
  if (!PEM[kind].test(pem.toString('latin1'))) {
    throw configError(variable, `${file} holds no PEM ${kind} (-----BEGIN ...-----)`);
  }
  return pem;
}
