import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

export interface Child {
  process: ChildProcess;
  pid: number;
  /** Resolves with the exit code (null when a signal ended it) once its output is read. */
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<number | null>;
}

const alive = new Set<ChildProcess>();
let exitHookInstalled = false;
let sigtermKills = true;

/**
 * For a program that stops its children itself on SIGTERM (the demo, the bench): SIGTERM no longer
 * SIGKILLs them first. They are still killed if this process exits with children left.
 */
export function stopChildrenYourselfOnSigterm(): void {
  sigtermKills = false;
}

/** Last resort: whatever a test left running dies with the test process. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = () => {
    for (const child of alive) child.kill('SIGKILL');
  };
  process.once('exit', killAll);
  // Vitest ends its fork workers with SIGTERM, which skips 'exit' handlers.
  process.once('SIGTERM', () => {
    if (!sigtermKills) return;
    killAll();
    if (process.listenerCount('SIGTERM') === 0) process.kill(process.pid, 'SIGTERM');
  });
}

/** Spawns a child that is killed when this process exits, whatever the tests did. */
export function spawnChild(command: string, args: string[], options: SpawnOptions): Child {
  installExitHook();
  const child = spawn(command, args, options);
  alive.add(child);
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', (error) => {
      alive.delete(child);
      reject(error);
    });
    // 'close' comes once its output is drained; a grandchild holding the pipes open must not
    // keep a test waiting, so 'exit' resolves too, a moment later.
    const finish = (code: number | null) => {
      alive.delete(child);
      resolve(code);
    };
    child.once('close', finish);
    child.once('exit', (code) => setTimeout(() => finish(code), 500).unref());
  });
  // Callers that never await `exited` must not see an unhandled rejection (spawn errors also
  // surface through their own readiness checks).
  exited.catch(() => undefined);
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  const stop = async (graceMs = 10_000): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return exited;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  };
  return { process: child, pid: child.pid, exited, stop };
}
