import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths pino censors wherever they appear in a log object. The code never logs secrets on
 * purpose; this is the net under that rule (tests prove nothing leaks).
 */
export const REDACT_PATHS = [
  'password',
  'pendingPassword',
  'newPassword',
  'secret',
  'token',
  'agentToken',
  'enrollmentToken',
  'masterKey',
  'authorization',
  '*.password',
  '*.pendingPassword',
  '*.newPassword',
  '*.secret',
  '*.token',
  '*.agentToken',
  '*.enrollmentToken',
  'req.headers.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'jobs[*].password',
  'jobs[*].pendingPassword',
  'jobs[*].token',
];

export function createLogger(name: string, level: string, options: LoggerOptions = {}): Logger {
  return pino({
    name,
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { pid: process.pid, service: name },
    timestamp: pino.stdTimeFunctions.isoTime,
    ...options,
  });
}
