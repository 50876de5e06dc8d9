/**
 * Puts simulated targets and credentials in place: through the operator API (each credential
 * created queues its first verification), or inserted in SQL, sealed with the coordinator's
 * SecretBox and master key exactly as the API does, and made due now so the scheduler queues them.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import type { SecretBox } from '../shared/crypto.js';
import type { Api } from '../tests/support/operator-client.js';

export interface SqlRunner {
  query(sql: string, params?: unknown[]): Promise<unknown>;
}

/** Credentials per simulated target; each target has its own `host` (the agents' per-host limit). */
export const PER_TARGET = 100;

export async function createTargets(client: Api, siteId: string, count: number): Promise<string[]> {
  const limit = pLimit(16);
  return Promise.all(
    Array.from({ length: count }, (_, i) =>
      limit(async () => {
        const { id } = await client.post<{ id: string }>('/api/v1/targets', {
          siteId,
          name: `sim-${String(i).padStart(5, '0')}`,
          kind: 'simulated',
          connection: { latencyMs: 0, host: `sim-host-${i}` },
        });
        return id;
      }),
    ),
  );
}

export async function seedViaApi(
  client: Api,
  targets: string[],
  n: number,
  onProgress: (done: number) => void,
): Promise<string[]> {
  const limit = pLimit(32);
  let done = 0;
  return Promise.all(
    Array.from({ length: n }, (_, i) =>
      limit(async () => {
        const { id } = await client.post<{ id: string }>('/api/v1/credentials', {
          targetId: targets[i % targets.length],
          username: `user-${i}`,
          password: randomBytes(12).toString('base64url'),
        });
        if (++done % 200 === 0) onProgress(done);
        return id;
      }),
    ),
  );
}

export interface SqlSeedOptions {
  siteId: string;
  targets: string[];
  box: SecretBox;
  /** Index of the first credential (usernames are user-<i>). */
  from: number;
  to: number;
  /** `due`: never verified, due now (out_of_sync/stale, as the API leaves a new one before its first result).
   *  `settled`: verified a moment ago (In Sync in its status history), next verification spread over
   *  the next day (nothing due). */
  state: 'due' | 'settled';
  onProgress?: (done: number) => void;
}

const BATCH = 2000;

export async function seedViaSql(db: SqlRunner, o: SqlSeedOptions): Promise<void> {
  for (let start = o.from; start < o.to; start += BATCH) {
    const end = Math.min(o.to, start + BATCH);
    const ids: string[] = [];
    const targetIds: string[] = [];
    const usernames: string[] = [];
    const secrets: string[] = [];
    for (let i = start; i < end; i++) {
      const id = randomUUID();
      ids.push(id);
      targetIds.push(o.targets[i % o.targets.length]!);
      usernames.push(`user-${i}`);
      secrets.push(o.box.seal(randomBytes(12).toString('base64url'), id, 'secret'));
    }
    const common = `INSERT INTO credentials (id, target_id, site_id, username, secret, status, status_reason,
                           last_outcome, last_result_at, last_verified_at, stale_at, next_verify_at)`;
    if (o.state === 'due') {
      await db.query(
        `${common}
         SELECT u.id, u.target_id, $5::uuid, u.username, u.secret, 'out_of_sync', 'stale', NULL, NULL, NULL, NULL, now()
           FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[]) AS u(id, target_id, username, secret)`,
        [ids, targetIds, usernames, secrets, o.siteId],
      );
    } else {
      await db.query(
        `${common}
         SELECT u.id, u.target_id, $5::uuid, u.username, u.secret, 'in_sync', NULL, 'ok', now(), now(),
                now() + interval '1 day', now() + interval '1 hour' + random() * interval '23 hours'
           FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[]) AS u(id, target_id, username, secret)`,
        [ids, targetIds, usernames, secrets, o.siteId],
      );
      // As a credential verified before has it: the In Sync its first result recorded (a run's
      // verification that ends where it began then adds no history row, as in production).
      await db.query(
        `INSERT INTO credential_status_history (credential_id, at, status)
         SELECT id, now(), 'in_sync' FROM unnest($1::uuid[]) AS id`,
        [ids],
      );
    }
    o.onProgress?.(end - o.from);
  }
}
