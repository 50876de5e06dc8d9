export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** What was awaited, for the timeout error. */
  message?: string;
  /** Gives up at once, with the signal's reason, when this aborts. */
  signal?: AbortSignal;
}

const show = (value: unknown): string => {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 1000 ? `${text.slice(0, 1000)}…` : text;
};

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Calls `fn` every `intervalMs` until it returns a truthy value, and returns that value. A throw
 * counts as "not yet". On timeout the error names what was awaited and the last value (or error).
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 100, message = 'condition', signal }: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    signal?.throwIfAborted();
    try {
      last = await fn();
      if (last) return last as T;
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${message}; last value: ${show(last)}`);
    }
    await sleep(intervalMs);
  }
}
