/** What the sync-agent commands print for people: errors on stderr as `sync-agent: …`. */

export const describe = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Prints `message` on stderr and exits with `code` (1: a problem; 2: a command line it cannot run). */
export function fail(message: string, code = 1): never {
  console.error(`sync-agent: ${message}`);
  process.exit(code);
}

/** A line on stdout. */
export const say = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};
