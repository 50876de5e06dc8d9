/**
 * A sealing thread of the pool (seal-pool.ts): seals passwords with the coordinator's current
 * master key, bound to their rows (`<id>/secret`), off the event loop of the HTTP server.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SecretBox } from '../../shared/crypto.js';
import type { SealRequest, SealReply, SealWorkerData } from './seal-pool.js';

const data = workerData as SealWorkerData;
const box = new SecretBox({ id: data.keyId, key: Buffer.from(data.key) });

parentPort!.on('message', (request: SealRequest) => {
  let reply: SealReply;
  try {
    reply = {
      job: request.job,
      sealed: request.items.map(([id, password]) => box.seal(password, id, 'secret')),
    };
  } catch (err) {
    // Never the passwords: only what failed.
    reply = { job: request.job, error: err instanceof Error ? err.message : String(err) };
  }
  parentPort!.postMessage(reply);
});
