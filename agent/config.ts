import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { configError, envInt, envUrl, loadEnv, LogLevelSchema, readPemSetting } from '../shared/config.js';
import type { TlsMaterial } from './http.js';

/** What `syncctl sites token` and POST /api/v1/sites/{id}/enrollment-tokens print. */
export const ENROLLMENT_TOKEN_FORM = /^pwe_[A-Za-z0-9_-]{20,196}$/;

/** How long jobs in flight get to finish after SIGTERM before they are handed back. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 20_000;

/** The agent's environment variables. A bad or missing one stops the start with its name. */
export const AgentEnvSchema = z.object({
  COORDINATOR_URL: envUrl(['http', 'https']),
  /** One-time token of a site, needed on the first start only (no identity yet). */
  ENROLLMENT_TOKEN: z
    .string()
    .trim()
    .regex(ENROLLMENT_TOKEN_FORM, {
      message:
        'not an enrollment token: expected pwe_ and letters, digits, _ or - as syncctl sites token prints it',
    })
    .optional(),
  AGENT_STATE_DIR: z.string().min(1).default('./.agent-state'),
  AGENT_CONCURRENCY: envInt(1, 1000).default(10),
  AGENT_NAME: z
    .string()
    .trim()
    .min(1)
    .max(200)
    .default(() => os.hostname().slice(0, 200) || 'sync-agent'),
  AGENT_PER_HOST_LIMIT: envInt(1, 1000).default(4),
  AGENT_CLAIM_WAIT_MS: envInt(0, 30_000).default(20_000),
  AGENT_SHUTDOWN_GRACE_MS: envInt(0, 3_600_000).default(DEFAULT_SHUTDOWN_GRACE_MS),
  AGENT_REPORT_FLUSH_MS: envInt(0, 60_000).default(20),
  LOG_LEVEL: LogLevelSchema.default('info'),
  /** Serve Prometheus metrics on this port (unset: no metrics server). */
  AGENT_METRICS_PORT: envInt(0, 65535).optional(),
  AGENT_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** CA bundle (PEM) to trust for an https COORDINATOR_URL with a private CA. */
  AGENT_TLS_CA_FILE: z.string().min(1).optional(),
  /** Client certificate and key (PEM) for mutual TLS with the coordinator. */
  AGENT_TLS_CERT_FILE: z.string().min(1).optional(),
  AGENT_TLS_KEY_FILE: z.string().min(1).optional(),
});

export interface AgentConfig {
  coordinatorUrl: string;
  enrollmentToken: string | undefined;
  /** Absolute path of the folder holding identity.json and outbox.jsonl. */
  stateDir: string;
  concurrency: number;
  name: string;
  perHostLimit: number;
  claimWaitMs: number;
  shutdownGraceMs: number;
  reportFlushMs: number;
  logLevel: string;
  /** PEM contents, read at start-up (an unreadable file stops the start naming its variable). */
  tls?: TlsMaterial | undefined;
  metrics?: { port: number; host: string } | undefined;
}

/** Reads the agent's config; throws SyncError CONFIG_INVALID naming each bad variable. */
export function loadAgentConfig(env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const e = loadEnv(AgentEnvSchema, env);
  return {
    coordinatorUrl: e.COORDINATOR_URL,
    enrollmentToken: e.ENROLLMENT_TOKEN,
    stateDir: path.resolve(e.AGENT_STATE_DIR),
    concurrency: e.AGENT_CONCURRENCY,
    name: e.AGENT_NAME,
    perHostLimit: e.AGENT_PER_HOST_LIMIT,
    claimWaitMs: e.AGENT_CLAIM_WAIT_MS,
    shutdownGraceMs: e.AGENT_SHUTDOWN_GRACE_MS,
    reportFlushMs: e.AGENT_REPORT_FLUSH_MS,
    logLevel: e.LOG_LEVEL,
    metrics:
      e.AGENT_METRICS_PORT === undefined
        ? undefined
        : { port: e.AGENT_METRICS_PORT, host: e.AGENT_METRICS_HOST },
    tls: loadTls(e),
  };
}

type AgentEnv = z.output<typeof AgentEnvSchema>;

/** Reads the TLS files now, so a missing, unreadable or wrong one stops the start naming its variable. */
function loadTls(e: AgentEnv): TlsMaterial | undefined {
  const { AGENT_TLS_CA_FILE: caFile, AGENT_TLS_CERT_FILE: certFile, AGENT_TLS_KEY_FILE: keyFile } = e;
  if (!caFile && !certFile && !keyFile) return undefined;
  if (certFile && !keyFile) throw configError('AGENT_TLS_KEY_FILE', 'required with AGENT_TLS_CERT_FILE');
  if (keyFile && !certFile) throw configError('AGENT_TLS_CERT_FILE', 'required with AGENT_TLS_KEY_FILE');
  return {
    ...(caFile ? { ca: readPemSetting('AGENT_TLS_CA_FILE', caFile, 'certificate') } : {}),
    ...(certFile ? { cert: readPemSetting('AGENT_TLS_CERT_FILE', certFile, 'certificate') } : {}),
    ...(keyFile ? { key: readPemSetting('AGENT_TLS_KEY_FILE', keyFile, 'private key') } : {}),
  };
}

/**
 * A warning for a COORDINATOR_URL that sends the agent's token and the passwords of its jobs in
 * plaintext over the network: http:// to anything but a loopback address. Undefined when fine.
 */
export function plaintextWarning(coordinatorUrl: string): string | undefined {
  const url = new URL(coordinatorUrl);
  if (url.protocol !== 'http:') return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const loopback =
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    host === '::1' ||
    (isIP(host) === 4 && host.startsWith('127.'));
  if (loopback) return undefined;
  return `COORDINATOR_URL is plain http:// to ${url.host}: the agent token and the passwords of claimed jobs cross the network unencrypted; use https://`;
}
