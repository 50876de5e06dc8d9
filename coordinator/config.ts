import { isIP } from 'node:net';
import { z } from 'zod';
import {
  configError,
  envBool,
  envInt,
  envUrl,
  loadEnv,
  LogLevelSchema,
  readFileSetting,
  readPemSetting,
} from '../shared/config.js';
import { isMasterKeyBase64, masterKeyFromBase64, type MasterKey } from '../shared/crypto.js';
import {
  defaultAgentVersionRange,
  SemverSchema,
  compareVersions,
  type AgentVersionRange,
} from '../shared/agent-versions.js';
import { VERSION } from '../shared/version.js';

const base64Key = z.string().refine(isMasterKeyBase64, {
  message: 'expected 32 random bytes in base64: 44 characters, as openssl rand -base64 32 prints',
});

const NAMED_RANGES = ['loopback', 'linklocal', 'uniquelocal'];

/** An address, a CIDR range (`10.0.0.0/8`, `fd00::/8`) or a named range, as proxy-addr takes them. */
function isProxyRange(item: string): boolean {
  if (NAMED_RANGES.includes(item)) return true;
  const [address = '', prefix, extra] = item.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/**
 * Which proxies are trusted to set X-Forwarded-For (Fastify's trustProxy): `false` (default: the
 * socket's address is the client), `true` (every hop: only when nothing reaches the coordinator but
 * through the proxy), a hop count, or a comma-separated list of addresses / CIDR ranges / loopback,
 * linklocal, uniquelocal.
 */
export const TrustProxySchema = z
  .string()
  .trim()
  .transform((value, ctx): boolean | number | string[] => {
    // As every boolean setting: in any case (`TRUE`, `False`).
    const word = value.toLowerCase();
    if (word === 'false') return false;
    if (word === 'true') return true;
    if (/^\d+$/.test(value)) {
      const hops = Number(value);
      if (hops >= 1 && hops <= 32) return hops;
    }
    const items = value
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean);
    const bad = items.find((item) => !isProxyRange(item));
    if (items.length === 0 || bad !== undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `expected false, true, a hop count (1-32) or a comma-separated list of IP addresses, CIDR ranges, loopback, linklocal, uniquelocal${bad === undefined ? '' : `; '${bad}' is none of these`}`,
      });
      return z.NEVER;
    }
    return items;
  });

/** `host:port` or `[v6]:port`. */
const HOST_PORT = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/;

export interface HostPort {
  host: string;
  port: number;
}

/** A comma-separated list of `host:port` (IPv6 in brackets): Redis Cluster seeds or sentinels. */
export const HostPortListSchema = z
  .string()
  .trim()
  .transform((value, ctx): HostPort[] => {
    const items = value
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean);
    const nodes: HostPort[] = [];
    for (const item of items) {
      const m = HOST_PORT.exec(item);
      const port = Number(m?.[3]);
      if (!m || port < 1 || port > 65535) {
        ctx.addIssue({
          code: 'custom',
          message: `expected host:port[,host:port…]; '${item}' is not host:port`,
        });
        return z.NEVER;
      }
      nodes.push({ host: m[1] ?? m[2]!, port });
    }
    if (nodes.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'expected host:port[,host:port…]' });
      return z.NEVER;
    }
    return nodes;
  });

/**
 * Which Redis the coordinator uses: one server (REDIS_URL), a Redis Cluster (REDIS_CLUSTER_NODES) or
 * the master a set of sentinels names (REDIS_SENTINELS, REDIS_SENTINEL_NAME). REDIS_URL gives the
 * user, password, TLS and (not for a cluster) database of every mode.
 */
export type RedisTarget =
  | { mode: 'single'; url: string }
  | { mode: 'cluster'; url: string; nodes: HostPort[] }
  | { mode: 'sentinel'; url: string; sentinels: HostPort[]; name: string; sentinelPassword?: string };

export const CoordinatorEnvSchema = z.object({
  DATABASE_URL: envUrl(['postgres', 'postgresql']).optional(),
  DATA_DIR: z.string().default('./.data'),
  REDIS_URL: envUrl(['redis', 'rediss']).default('redis://127.0.0.1:6379'),
  /**
   * Redis Cluster: seed nodes (`host:port,host:port`); the rest of the cluster is discovered. REDIS_URL
   * then gives only the user, password and TLS (`rediss://`) of every node.
   */
  REDIS_CLUSTER_NODES: HostPortListSchema.optional(),
  /** Redis Sentinel: the sentinels (`host:port,…`) that name the master REDIS_SENTINEL_NAME. */
  REDIS_SENTINELS: HostPortListSchema.optional(),
  REDIS_SENTINEL_NAME: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, { message: 'letters, digits, ., _ and - only (1-64)' })
    .optional(),
  /** The sentinels' own password, when they require one (the master's comes from REDIS_URL). */
  REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
  PORT: envInt(0, 65535).default(8080),
  HOST: z.string().default('0.0.0.0'),
  COORDINATOR_ADMIN_TOKEN: z.string().min(16, { message: 'must be at least 16 characters' }),
  COORDINATOR_MASTER_KEY: base64Key.optional(),
  COORDINATOR_MASTER_KEY_FILE: z.string().optional(),
  /** Keys that can still open secrets during a master key rotation (comma-separated base64). */
  COORDINATOR_PREVIOUS_MASTER_KEYS: z.string().optional(),
  /**
   * Longest a request waits on Redis for one of its calls (a claim, a report, queueing new work,
   * the queue counts): past it, Redis counts as unavailable for that request. While Redis refuses
   * connections, calls fail at once.
   */
  REDIS_REQUEST_TIMEOUT_MS: envInt(100, 30_000).default(1000),
  /**
   * Longest a statement waits for a PostgreSQL connection (a new one, or a free one of the pool):
   * past it the request answers 503 UNAVAILABLE instead of waiting for a database that does not answer.
   */
  DATABASE_CONNECT_TIMEOUT_MS: envInt(100, 60_000).default(5000),
  /**
   * Longest a statement waits for PostgreSQL's answer on a connection it has (a server stopped,
   * frozen or cut off mid-way): past it that connection is closed and the request answers 503.
   */
  DATABASE_QUERY_TIMEOUT_MS: envInt(1000, 600_000).default(15_000),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,40}$/, { message: 'letters, digits, _ and - only (1-40)' })
    .default('pws'),
  LOG_LEVEL: LogLevelSchema.default('info'),
  SCHEDULER_TICK_MS: envInt(100, 60_000).default(1000),
  SCHEDULER_BATCH: envInt(1, 10_000).default(1000),
  /** Batches a tick queues at the same time. */
  SCHEDULER_LANES: envInt(1, 16).default(3),
  RECONCILE_EVERY_MS: envInt(1000, 3_600_000).default(30_000),
  /** Work queued or claimed more recently than this is left alone by the reconciler (may still be on its way). */
  RECONCILE_GRACE_MS: envInt(1000, 600_000).default(10_000),
  /**
   * How long an item of a sync run waits for an agent able to take its job (its site disabled, no
   * agent ever, all disabled / revoked / awaiting approval, or none online) before it ends unsynced
   * with that reason (docs/sync-runs.md).
   */
  RUN_AGENT_WAIT_MS: envInt(1000, 7 * 86_400_000).default(600_000),
  /**
   * Credentials a sync run marks per transaction (coordinator/runs/marking.ts). 1,000: at 1,000,000
   * credentials 5,000 held the coordinator's peak RSS over 300 MB for no gain (docs/benchmarks.md).
   */
  RUN_MARK_CHUNK: envInt(100, 100_000).default(1000),
  JOB_LOCK_MS: envInt(5000, 600_000).default(30_000),
  STALLED_CHECK_MS: envInt(1000, 600_000).default(15_000),
  HEARTBEAT_EVERY_MS: envInt(1000, 60_000).default(15_000),
  SUSPEND_AFTER_FAILURES: envInt(1, 1000).default(10),
  RETRY_LIMIT: envInt(0, 100).default(5),
  ENROLLMENT_TTL_S: envInt(60, 30 * 86_400).default(86_400),
  RUN_SCHEDULER: envBool.default(true),
  /** TLS for the listener: certificate and key (PEM files). */
  TLS_CERT_FILE: z.string().min(1).optional(),
  TLS_KEY_FILE: z.string().min(1).optional(),
  /** Mutual TLS for agents: the CA (PEM) that signs agent client certificates; the gateway then requires one. */
  TLS_CLIENT_CA_FILE: z.string().min(1).optional(),
  TRUST_PROXY: TrustProxySchema.optional(),
  /** Bearer token Prometheus must present on GET /metrics; unset = /metrics is public. */
  METRICS_TOKEN: z.string().trim().min(16, { message: 'must be at least 16 characters' }).optional(),
  /** Failed authentications per source address and minute before it gets 429. */
  AUTH_FAILURES_PER_MINUTE: envInt(1, 100_000).default(30),
  /** How old the shared counts of GET /summary, /overview and /metrics may be (per process); 0 = fresh. */
  COUNTS_MAX_AGE_MS: envInt(0, 60_000).default(2000),
  /**
   * Threads that seal the passwords of a bulk import (POST /credentials/batch) off the event loop;
   * started at the first import.
   */
  SEAL_WORKERS: envInt(1, 64).default(2),
  /** Largest request body accepted, in bytes (POST /credentials/batch has its own, see docs/api.md). */
  BODY_LIMIT_BYTES: envInt(1024, 64 * 1024 * 1024).default(1024 * 1024),
  /** Oldest and newest agent versions whose claims are taken (defaults: see defaultAgentVersionRange). */
  AGENT_MIN_VERSION: SemverSchema.optional(),
  AGENT_MAX_VERSION: SemverSchema.optional(),
  // Alerts (docs/alerts.md).
  /** How often a replica looks for agents gone quiet and runs overdue, turns events into alerts and sends. */
  ALERT_EVERY_MS: envInt(100, 60_000).default(1000),
  /** An agent without a heartbeat for this long is offline (an `agent.offline` alert). */
  ALERT_AGENT_OFFLINE_MS: envInt(1000, 7 * 86_400_000).default(300_000),
  /** A sync run still open this long after it started is overdue (`run.overdue`). */
  ALERT_RUN_OVERDUE_MS: envInt(1000, 30 * 86_400_000).default(7_200_000),
  /** Events wait this long before they alert, so those of one site and kind group into one alert. */
  ALERT_GROUP_WINDOW_MS: envInt(0, 600_000).default(30_000),
  /** This many credentials of one site with the same event in one window: one alert naming the site. */
  ALERT_MASS_THRESHOLD: envInt(2, 1_000_000).default(10),
  /** The same event of the same subject again within this time goes to the digest instead. */
  ALERT_REPEAT_MS: envInt(0, 30 * 86_400_000).default(172_800_000),
  /** A credential with this many status events within ALERT_FLAP_WINDOW_MS is flapping. */
  ALERT_FLAP_COUNT: envInt(2, 1000).default(4),
  ALERT_FLAP_WINDOW_MS: envInt(1000, 7 * 86_400_000).default(3_600_000),
  /** Events held back go out in a digest once the oldest of them is this old. */
  ALERT_DIGEST_EVERY_MS: envInt(1000, 7 * 86_400_000).default(86_400_000),
  /** A delivery is retried with backoff (from ALERT_RETRY_BASE_MS, doubling, at most 1 h) this long, then failed. */
  ALERT_RETRY_FOR_MS: envInt(1000, 7 * 86_400_000).default(86_400_000),
  ALERT_RETRY_BASE_MS: envInt(100, 3_600_000).default(30_000),
  /** Longest one webhook call or one mail may take. */
  ALERT_SEND_TIMEOUT_MS: envInt(1000, 120_000).default(10_000),
  /**
   * Events (the outbox) older than this are deleted once dispatched (and digested when held back);
   * at least ALERT_FLAP_WINDOW_MS, which the flapping rule counts back over.
   */
  ALERT_EVENT_RETENTION_MS: envInt(3_600_000, 3650 * 86_400_000).default(30 * 86_400_000),
  /** PEM file of a private CA that signed the SMTP servers' certificates. */
  ALERT_SMTP_CA_FILE: z.string().min(1).optional(),
});
export type CoordinatorEnv = z.output<typeof CoordinatorEnvSchema>;

export interface CoordinatorConfig extends CoordinatorEnv {
  masterKey: MasterKey;
  previousMasterKeys: MasterKey[];
  /** TRUST_PROXY parsed (false when unset). */
  trustProxy: boolean | number | string[];
  /** PEM contents for an https listener; `ca` set = agents must present a client certificate it signed. */
  tls: { cert: Buffer; key: Buffer; ca?: Buffer } | undefined;
  /** Agent versions whose claims are taken (AGENT_MIN_VERSION, AGENT_MAX_VERSION, this version). */
  agentVersions: AgentVersionRange;
  /** REDIS_URL, REDIS_CLUSTER_NODES, REDIS_SENTINELS… checked together (queues/connect.ts connects). */
  redis: RedisTarget;
  /** ALERT_SMTP_CA_FILE's PEM contents. */
  smtpCa: Buffer | undefined;
}

const readPem = (
  variable: string,
  path: string | undefined,
  kind: 'certificate' | 'private key' = 'certificate',
): Buffer | undefined => (path ? readPemSetting(variable, path, kind) : undefined);

function loadTls(e: CoordinatorEnv): CoordinatorConfig['tls'] {
  const cert = readPem('TLS_CERT_FILE', e.TLS_CERT_FILE);
  const key = readPem('TLS_KEY_FILE', e.TLS_KEY_FILE, 'private key');
  const ca = readPem('TLS_CLIENT_CA_FILE', e.TLS_CLIENT_CA_FILE);
  if (!cert && !key && !ca) return undefined;
  if (!cert) throw configError('TLS_CERT_FILE', 'required with TLS_KEY_FILE or TLS_CLIENT_CA_FILE');
  if (!key) throw configError('TLS_KEY_FILE', 'required with TLS_CERT_FILE');
  return { cert, key, ...(ca ? { ca } : {}) };
}

function redisTarget(e: CoordinatorEnv): RedisTarget {
  const url = e.REDIS_URL;
  if (e.REDIS_CLUSTER_NODES && e.REDIS_SENTINELS) {
    throw configError('REDIS_SENTINELS', 'set either REDIS_CLUSTER_NODES or REDIS_SENTINELS, not both');
  }
  if (e.REDIS_CLUSTER_NODES) {
    const db = new URL(url).pathname.replace(/^\//, '');
    if (db !== '' && db !== '0') {
      throw configError('REDIS_URL', 'a Redis Cluster has database 0 only: no database number in the URL');
    }
    return { mode: 'cluster', url, nodes: e.REDIS_CLUSTER_NODES };
  }
  if (e.REDIS_SENTINELS) {
    if (!e.REDIS_SENTINEL_NAME) throw configError('REDIS_SENTINEL_NAME', 'required with REDIS_SENTINELS');
    return {
      mode: 'sentinel',
      url,
      sentinels: e.REDIS_SENTINELS,
      name: e.REDIS_SENTINEL_NAME,
      ...(e.REDIS_SENTINEL_PASSWORD ? { sentinelPassword: e.REDIS_SENTINEL_PASSWORD } : {}),
    };
  }
  if (e.REDIS_SENTINEL_NAME) throw configError('REDIS_SENTINELS', 'required with REDIS_SENTINEL_NAME');
  return { mode: 'single', url };
}

/** Validates the environment once, at start-up. Throws CONFIG_INVALID naming the variable. */
export function loadCoordinatorConfig(env: NodeJS.ProcessEnv = process.env): CoordinatorConfig {
  const parsed = loadEnv(CoordinatorEnvSchema, env);
  let keyText = parsed.COORDINATOR_MASTER_KEY;
  if (!keyText && parsed.COORDINATOR_MASTER_KEY_FILE) {
    keyText = readFileSetting('COORDINATOR_MASTER_KEY_FILE', parsed.COORDINATOR_MASTER_KEY_FILE)
      .toString('utf8')
      .trim();
    if (!base64Key.safeParse(keyText).success) {
      throw configError('COORDINATOR_MASTER_KEY_FILE', 'the file must hold 32 random bytes in base64');
    }
  }
  if (!keyText) {
    throw configError(
      'COORDINATOR_MASTER_KEY',
      'required (or COORDINATOR_MASTER_KEY_FILE): openssl rand -base64 32',
    );
  }
  const previous = (parsed.COORDINATOR_PREVIOUS_MASTER_KEYS ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean);
  if (previous.some((k) => !base64Key.safeParse(k).success)) {
    throw configError('COORDINATOR_PREVIOUS_MASTER_KEYS', 'each key must be 32 random bytes in base64');
  }
  const { AGENT_MIN_VERSION: min, AGENT_MAX_VERSION: max } = parsed;
  if (min !== undefined && max !== undefined && compareVersions(min, max) > 0) {
    throw configError('AGENT_MAX_VERSION', `must not be older than AGENT_MIN_VERSION (${min})`);
  }
  if (parsed.ALERT_EVENT_RETENTION_MS < parsed.ALERT_FLAP_WINDOW_MS) {
    throw configError(
      'ALERT_EVENT_RETENTION_MS',
      `must not be shorter than ALERT_FLAP_WINDOW_MS (${parsed.ALERT_FLAP_WINDOW_MS})`,
    );
  }
  return {
    ...parsed,
    agentVersions: defaultAgentVersionRange(VERSION, { min, max }),
    masterKey: masterKeyFromBase64(keyText),
    previousMasterKeys: previous.map(masterKeyFromBase64),
    tls: loadTls(parsed),
    smtpCa: readPem('ALERT_SMTP_CA_FILE', parsed.ALERT_SMTP_CA_FILE),
    trustProxy: parsed.TRUST_PROXY ?? false,
    redis: redisTarget(parsed),
  };
}
