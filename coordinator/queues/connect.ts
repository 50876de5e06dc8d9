import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisTarget } from '../config.js';

/** A connection to the coordinator's Redis: one server (also through Sentinel) or a Redis Cluster. */
export type RedisClient = Redis | Cluster;

/** What REDIS_URL gives every mode: user, password, TLS (`rediss://`) and database (not for a cluster). */
function urlOptions(url: string): RedisOptions {
  const u = new URL(url);
  const db = Number(u.pathname.replace(/^\//, '') || 0);
  return {
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    ...(db > 0 ? { db } : {}),
  };
}

/**
 * The one place a Redis connection is made, for the site queues, their workers, the scheduler, the
 * wake-up channel: `options` (queues/redis.ts: REQUEST_PATH_OPTIONS or WAITING_OPTIONS) apply in
 * every mode. A cluster's retry strategy and offline queue are the cluster's (its node connections
 * are its own business); every key of one queue shares a hash tag (shared/contracts/jobs.ts), so
 * each BullMQ script and pipeline stays in one slot.
 */
export function connectRedis(target: RedisTarget, options: RedisOptions): RedisClient {
  if (target.mode === 'single') return new Redis(target.url, options);
  const fromUrl = urlOptions(target.url);
  if (target.mode === 'sentinel') {
    return new Redis({
      ...fromUrl,
      ...options,
      sentinels: target.sentinels,
      name: target.name,
      ...(target.sentinelPassword ? { sentinelPassword: target.sentinelPassword } : {}),
      ...(fromUrl.tls ? { enableTLSForSentinelMode: true } : {}),
    });
  }
  const { retryStrategy, enableOfflineQueue, enableAutoPipelining, ...perNode } = options;
  const clusterOptions: ClusterOptions = {
    redisOptions: { ...fromUrl, ...perNode },
    ...(retryStrategy ? { clusterRetryStrategy: retryStrategy } : {}),
    ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
    ...(enableAutoPipelining === undefined ? {} : { enableAutoPipelining }),
  };
  return new Cluster(target.nodes, clusterOptions);
}
