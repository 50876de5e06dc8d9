import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** Keys that hold secrets wherever they appear in a log object. */
const SECRET_KEYS = [
  'password',
  'pendingPassword',
  'newPassword',
  'currentPassword',
  'oldPassword',
  'secret',
  'pending_secret',
  'token',
  'agentToken',
  'enrollmentToken',
  'masterKey',
  'authorization',
  'cookie',
];

/** How deep below the top of a log object a secret key is still found (`*.*.*.key`). */
const REDACT_DEPTH = 4;

/**
 * Paths pino censors wherever they appear in a log object, up to REDACT_DEPTH levels deep
 * (`password`, `*.password`, … `*.*.*.password`: so `job.privileged.password` and
 * `jobs[*].privileged.password` too; `*` matches array items). The code never logs secrets on
 * purpose; this is the net under that rule (tests prove nothing leaks).
 */
export const REDACT_PATHS = SECRET_KEYS.flatMap((key) =>
  Array.from({ length: REDACT_DEPTH }, (_, depth) => `${'*.'.repeat(depth)}${key}`),
);

export function createLogger(
  name: string,
  level: string,
  options: LoggerOptions = {},
  destination?: DestinationStream,
): Logger {
  const settings: LoggerOptions = {
    name,
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { pid: process.pid, service: name },
    timestamp: pino.stdTimeFunctions.isoTime,
    ...options,
  };
  return destination ? pino(settings, destination) : pino(settings);
}

const LEVEL_METHODS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace']);
const noop = (): void => undefined;

/**
 * `log.child(bindings)`, made when a line of an enabled level is first written (or another member
 * is used): a child logger costs its bindings' pass through every REDACT_PATHS pattern (tens of
 * kilobytes of garbage), which an agent running thousands of jobs a second, each with its own
 * job and credential ids, would pay for lines it almost never writes.
 */
export function lazyChild(log: Logger, bindings: Record<string, unknown>): Logger {
  let child: Logger | undefined;
  return new Proxy({} as Logger, {
    get(_, prop) {
      if (typeof prop === 'string' && LEVEL_METHODS.has(prop) && !log.isLevelEnabled(prop)) return noop;
      child ??= log.child(bindings);
      const value: unknown = Reflect.get(child, prop, child);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(child) : value;
    },
  });
}
