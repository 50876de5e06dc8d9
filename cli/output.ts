/**
 * How syncctl ends: only once everything it wrote has reached its reader. Node hands output to a
 * pipe asynchronously, and `process.exit()` drops what is still queued: `syncctl … --json | jq`
 * with a reader slower than syncctl got the first 64-128 KiB of a long list and exit code 0.
 */

/** Resolves once `stream` has handed everything written to it so far to the OS (or can take no more). */
function drained(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.destroyed || !stream.writable) return Promise.resolve();
  // Writes complete in order: the callback of an empty one runs after every earlier write's.
  return new Promise((resolve) => stream.write('', () => resolve()));
}

/**
 * A reader that goes away (`syncctl … | head`: EPIPE) is not an error of the command: stop writing to
 * it, quietly (by default Node throws the 'error' event with a stack trace and exits 1). Call once
 * at start.
 */
export function tolerateClosedReaders(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      stream.destroy();
    });
  }
}

/** Exits with `code` once stdout and stderr have been written out. */
export async function exitAfterOutput(code: number): Promise<never> {
  await Promise.all([drained(process.stdout), drained(process.stderr)]);
  process.exit(code);
}
