import { execFile } from 'node:child_process';

export interface ExecResult {
  /** The exit code; -1 when the program could not start, was killed or timed out. */
  code: number;
  stdout: string;
  stderr: string;
  /** stdout then stderr, for error messages. */
  out: string;
}

/**
 * Runs a program with `input` on its stdin and resolves with its exit code and output (never rejects).
 * A program that exits without reading its stdin makes the write fail with EPIPE; that error is the
 * program's business (its exit code tells), so it is swallowed here rather than left to crash the test run.
 */
export function execWithInput(
  file: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      { env: { ...process.env, ...options.env }, timeout: options.timeoutMs ?? 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr, out: `${stdout}${stderr}` });
      },
    );
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(options.input ?? '');
  });
}
