/** Retry delay for connectivity errors: from 10 s, doubling, capped at 5 min, with equal jitter. */
export function retryDelayMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(10_000 * 2 ** Math.max(0, attempt - 1), 300_000);
  return Math.round(base / 2 + (random() * base) / 2);
}
