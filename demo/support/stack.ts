/** Starts the real binaries (dist/coordinator/main.js, dist/agent/main.js) as children. */
import { binaryPath, logMsg, spawnManaged, type ManagedChild } from './children.js';
import { freePort, sleep } from './net.js';

/** This process's environment with `env` on top (`undefined` removes a variable). */
export function childEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const merged: NodeJS.ProcessEnv = { ...process.env };
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete merged[key];
    else merged[key] = value;
  }
  return merged;
}

export interface CoordinatorChild extends ManagedChild {
  url: string;
}

/**
 * Runs the coordinator with `env` (on top of this process's environment; PORT 0 or unset = a free
 * port) and resolves once GET /readyz answers 200.
 */
export async function startCoordinatorChild(
  env: Record<string, string | undefined>,
  logFile: string,
  timeoutMs = 60_000,
  nodeArgs: string[] = [],
): Promise<CoordinatorChild> {
  const port = !env.PORT || env.PORT === '0' ? await freePort() : Number(env.PORT);
  const host = !env.HOST || env.HOST === '0.0.0.0' ? '127.0.0.1' : env.HOST;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const child = spawnManaged('sync-coordinator', process.execPath, [...nodeArgs, binaryPath('coordinator')], {
    env: childEnv({ ...env, PORT: String(port) }),
    logFile,
  });
  let exited: number | null | undefined;
  void child.exited.then((code) => (exited = code));
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (exited !== undefined) throw new Error(`exited with code ${exited}`);
      const ok = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) })
        .then((r) => r.ok)
        .catch(() => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`${url}/readyz did not answer 200 within ${timeoutMs} ms`);
      await sleep(100);
    }
    return Object.assign(child, { url });
  } catch (err) {
    await child.stop(2_000);
    const tail = child.lines().slice(-20).join('\n');
    throw new Error(`sync-coordinator did not get ready: ${(err as Error).message}\nlast lines:\n${tail}`);
  }
}

/**
 * Runs an agent; resolves once it logs 'agent ready' (or, with `until`, the first matching line,
 * e.g. for a disabled agent that never gets ready).
 */
export async function startAgentChild(
  env: Record<string, string | undefined>,
  logFile: string,
  until: (entry: { msg?: unknown }) => boolean = (e) => e.msg === 'agent ready',
  timeoutMs = 60_000,
): Promise<ManagedChild> {
  const child = spawnManaged('sync-agent', process.execPath, [binaryPath('agent')], {
    env: childEnv(env),
    logFile,
  });
  try {
    await child.waitForLine((l) => {
      const entry = logMsg(l);
      return entry !== undefined && until(entry);
    }, timeoutMs);
    return child;
  } catch (err) {
    await child.stop(2_000);
    throw err;
  }
}
