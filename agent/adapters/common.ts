/** What the adapters share: building their answers, telling network failures apart, scrubbing server messages. */
import type { DetailCode } from '../../shared/contracts/status.js';
import type { Attempt, AttemptReason } from './types.js';

export type Failure = Extract<Attempt, { ok: false }>;

export const OK: Attempt = { ok: true };

export const fail = (reason: AttemptReason, message: string, definite = true): Failure => ({
  ok: false,
  reason,
  message,
  definite,
});

/** A change that may or may not have reached the server: the runner reconciles. */
export const uncertain = (message: string): Failure => ({
  ok: false,
  reason: 'change_outcome_unknown',
  message,
  definite: false,
});

/** `f` with a detail code. */
export const withDetail = (f: Failure, detailCode: DetailCode): Failure => ({ ...f, detailCode });

/**
 * A privileged change whose admin account cannot log in: the admin's problem, not the account's
 * (reporting `mismatch` would blame the account's password). Nothing was sent: definite.
 */
export function adminLoginFailure(f: Failure, admin: string): Failure {
  return f.reason === 'unreachable'
    ? f
    : fail('change_failed', `privileged account "${admin}" could not log in: ${f.message ?? f.reason}`);
}

/**
 * Like adminLoginFailure, for adapters that pin the host: a failure to trust the host (`error`, e.g.
 * a changed certificate) keeps its reason, detail code and what was observed, for the coordinator
 * to audit; the admin account's own refusals (its password, its lock) become `change_failed`
 * without a detail code, which would otherwise be shown as this credential's.
 */
export function privilegedLoginFailure(f: Failure, admin: string): Failure {
  if (f.reason === 'unreachable') return f;
  const message = `privileged account "${admin}" could not log in: ${f.message ?? f.reason}`;
  if (f.reason === 'error') return { ...f, message };
  const failure = fail('change_failed', message);
  return f.observed ? { ...failure, observed: f.observed } : failure;
}

export const ABORTED: Failure = fail('unreachable', 'aborted before the server answered');

/** Socket-level failures: the server was not reached (or dropped the connection). */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_FAIL',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EPIPE',
  'ERR_SOCKET_CLOSED',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
]);

const NETWORK_MESSAGES =
  /timeout expired|connection timeout|Connection terminated|socket hang up|read timeout/i;

interface ErrorLike {
  code?: unknown;
  errno?: unknown;
  message?: unknown;
  sqlState?: unknown;
}

export const errorOf = (err: unknown): ErrorLike =>
  typeof err === 'object' && err !== null ? (err as ErrorLike) : { message: String(err) };

export const codeOf = (err: unknown): string | undefined => {
  const code = errorOf(err).code;
  return typeof code === 'string' ? code : undefined;
};

/** The error's own text (never the SQL statement, which a driver may attach separately). */
export const textOf = (err: unknown): string => {
  const message = errorOf(err).message;
  return typeof message === 'string' && message !== '' ? message : 'unknown error';
};

/** True for a failure of the transport rather than an answer of the server. */
export function isNetworkError(err: unknown): boolean {
  const code = codeOf(err);
  if (code !== undefined && NETWORK_CODES.has(code)) return true;
  const cause = (err as { cause?: unknown } | null)?.cause;
  if (
    cause !== undefined &&
    cause !== err &&
    codeOf(cause) !== undefined &&
    NETWORK_CODES.has(codeOf(cause)!)
  ) {
    return true;
  }
  return NETWORK_MESSAGES.test(textOf(err));
}

const REDACTED = '[redacted]';
const WINDOW = 8;
const MAX_MESSAGE = 400;

/** Forms a password takes inside SQL text and error messages (escaped literals of each driver). */
function formsOf(secret: string): string[] {
  return [
    secret,
    secret.replace(/'/g, "''"),
    secret.replace(/'/g, "''").replace(/\\/g, '\\\\'),
    secret.replace(/[\\'"]/g, (ch) => `\\${ch}`),
    JSON.stringify(secret).slice(1, -1),
    encodeURIComponent(secret),
  ];
}

/**
 * A server's message made safe to show: every password (as is or escaped) replaced, and the whole
 * message withheld when any 8-character piece of one appears in its quoted part (servers quote a
 * truncated statement, e.g. MySQL's "near '…' at line 1"). Cut to 400 characters.
 */
export function scrub(message: string, secrets: readonly (string | undefined)[]): string {
  let out = message;
  for (const secret of secrets) {
    if (!secret) continue;
    for (const form of formsOf(secret)) {
      if (form !== '') out = out.split(form).join(REDACTED);
    }
    // Servers quote statement text after their own words: look there for pieces of a password.
    const quoted = out.slice(Math.max(0, out.search(/['"`]/)));
    for (let i = 0; i + WINDOW <= secret.length; i++) {
      if (/['"`]/.test(out) && quoted.includes(secret.slice(i, i + WINDOW))) {
        return 'server message withheld: it quoted part of a password';
      }
    }
  }
  return out.length > MAX_MESSAGE ? `${out.slice(0, MAX_MESSAGE - 1)}…` : out;
}

/**
 * Runs `work` with an abort hook: `onAbort` (closing the socket) is called when the job's signal
 * fires, and removed afterwards.
 */
export async function withAbort<T>(
  signal: AbortSignal,
  onAbort: () => void,
  work: () => Promise<T>,
): Promise<T> {
  const listener = () => onAbort();
  signal.addEventListener('abort', listener, { once: true });
  try {
    return await work();
  } finally {
    signal.removeEventListener('abort', listener);
  }
}
