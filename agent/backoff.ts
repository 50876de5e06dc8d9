import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '../shared/logger.js';

/** Exponential backoff with jitter: base doubling per failure, capped, each delay in [d/2, d]. */
export function backoffDelay(failures: number, baseMs = 250, capMs = 5_000): number {
  const exp = Math.min(capMs, baseMs * 2 ** Math.max(0, failures - 1));
  return Math.round(exp / 2 + (Math.random() * exp) / 2);
}

/** Waits `ms`, or less when `signal` aborts; never rejects. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return;
  try {
    await delay(ms, undefined, signal ? { signal } : undefined);
  } catch {
    // aborted: the caller checks its signal
  }
}

/**
 * After the `failures`-th failure in a row of a call made over and over (a claim): logged (a warning
 * the first time, debug after), then waits its backoff (or less when `signal` aborts).
 */
export async function backOffAfter(
  failures: number,
  err: unknown,
  what: string,
  log: Logger,
  signal: AbortSignal,
): Promise<void> {
  const delayMs = backoffDelay(failures);
  log[failures === 1 ? 'warn' : 'debug'](
    { err: (err as Error).message, failures, delayMs },
    `${what} failed; backing off`,
  );
  await sleep(delayMs, signal);
}
