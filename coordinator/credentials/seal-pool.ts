import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { MasterKey } from '../../shared/crypto.js';
import { SyncError } from '../../shared/errors.js';

/** What a sealing thread starts with: the current master key (it only seals). */
export interface SealWorkerData {
  keyId: string;
  key: Uint8Array;
}
/** A slice of a sealing job: `[credential id, password]` pairs. */
export interface SealRequest {
  job: number;
  items: [string, string][];
}
export type SealReply = { job: number; sealed: string[] } | { job: number; error: string };

interface Pending {
  resolve: (sealed: string[]) => void;
  reject: (err: Error) => void;
}

/** Below this many passwords per thread a job is not split further (messages cost more than sealing). */
const MIN_SLICE = 64;

/**
 * Seals passwords for new credentials (the `secret` column, bound to each row's id) on a pool of
 * worker threads, so a bulk import keeps the event loop free for other requests: a seal costs tens
 * of microseconds of CPU (two AES-GCM operations and fresh random keys), 10,000 of them would hold
 * the loop for most of a second. `size` threads (SEAL_WORKERS), started at the first use; a job is
 * split across them. A thread that dies fails the jobs it held and is replaced at the next use.
 */
export class SealPool {
  private workers: (Worker | undefined)[];
  private readonly pending = new Map<number, Pending>();
  private readonly held = new Map<Worker, Set<number>>();
  private next = 0;
  private turn = 0;
  private closed = false;

  constructor(
    private readonly key: MasterKey,
    readonly size: number,
  ) {
    this.workers = Array.from({ length: size }, () => undefined);
  }

  /** Seals each `[id, password]`; the sealed values in the same order. */
  async seal(items: [string, string][]): Promise<string[]> {
    if (this.closed) throw new SyncError('UNAVAILABLE', 'the coordinator is shutting down');
    if (items.length === 0) return [];
    const slices = Math.max(1, Math.min(this.size, Math.ceil(items.length / MIN_SLICE)));
    const per = Math.ceil(items.length / slices);
    const parts = await Promise.all(
      Array.from({ length: slices }, (_, i) => this.send(items.slice(i * per, (i + 1) * per))),
    );
    return parts.flat();
  }

  private send(items: [string, string][]): Promise<string[]> {
    const worker = this.worker(this.turn++ % this.size);
    const job = this.next++;
    return new Promise<string[]>((resolve, reject) => {
      this.pending.set(job, { resolve, reject });
      this.held.get(worker)!.add(job);
      worker.postMessage({ job, items } satisfies SealRequest);
    });
  }

  private worker(slot: number): Worker {
    const existing = this.workers[slot];
    if (existing) return existing;
    const workerData: SealWorkerData = { keyId: this.key.id, key: new Uint8Array(this.key.key) };
    const worker = FROM_SOURCES
      ? // From the TypeScript sources (the tests): the thread loads its module through tsx.
        new Worker(
          `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(WORKER_FILE.href)}); })`,
          { eval: true, workerData },
        )
      : new Worker(WORKER_FILE, { workerData });
    // Idle threads never keep the process alive.
    worker.unref();
    this.workers[slot] = worker;
    this.held.set(worker, new Set());
    worker.on('message', (reply: SealReply) => {
      this.held.get(worker)?.delete(reply.job);
      const p = this.pending.get(reply.job);
      this.pending.delete(reply.job);
      if (!p) return;
      if ('error' in reply) p.reject(new SyncError('INTERNAL', `sealing failed: ${reply.error}`));
      else p.resolve(reply.sealed);
    });
    const fail = (why: string) => {
      if (this.workers[slot] === worker) this.workers[slot] = undefined;
      for (const job of this.held.get(worker) ?? []) {
        this.pending.get(job)?.reject(new SyncError('INTERNAL', `a sealing thread stopped: ${why}`));
        this.pending.delete(job);
      }
      this.held.delete(worker);
    };
    worker.on('error', (err) => fail(err.message));
    worker.on('exit', (code) => fail(`exit code ${code}`));
    return worker;
  }

  async close(): Promise<void> {
    this.closed = true;
    const running = this.workers.filter((w): w is Worker => w !== undefined);
    this.workers = [];
    await Promise.all(running.map((w) => w.terminate()));
  }
}

const FROM_SOURCES = fileURLToPath(import.meta.url).endsWith('.ts');
const WORKER_FILE = new URL(`./seal-worker.${FROM_SOURCES ? 'ts' : 'js'}`, import.meta.url);
