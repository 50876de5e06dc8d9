import { setTimeout as delay } from 'node:timers/promises';

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
