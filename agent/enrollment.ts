import os from 'node:os';
import { SyncError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { backoffDelay, sleep } from './backoff.js';
import type { EnrollResponse } from '../shared/contracts/gateway.js';
import type { AgentConfig } from './config.js';
import type { GatewayClient } from './gateway.js';
import { GatewayHttpError, GatewayNetworkError, hasErrorCode, isTransient } from './http.js';
import { ensureStateDir, identityPath, readIdentity, writeIdentity, type Identity } from './state.js';

/** How long one enrollment attempt waits for the coordinator's answer. */
const ATTEMPT_TIMEOUT_MS = 15_000;

export interface EnrollInput {
  config: Pick<AgentConfig, 'stateDir' | 'enrollmentToken' | 'name' | 'concurrency'>;
  client: GatewayClient;
  adapters: string[];
  version: string;
  log: Logger;
  signal: AbortSignal;
  /** How long one attempt waits for the coordinator's answer (default 15 s). */
  attemptTimeoutMs?: number;
}

/**
 * The agent's identity: the stored one, or a new one from enrolling with ENROLLMENT_TOKEN (saved
 * before use). Retries while the coordinator is unreachable; an invalid token or a first start
 * without one is a SyncError for the operator.
 */
export async function loadOrEnroll(
  input: EnrollInput,
): Promise<Identity & { state?: EnrollResponse['state'] }> {
  const { config, client, adapters, version, log, signal, attemptTimeoutMs = ATTEMPT_TIMEOUT_MS } = input;
  await ensureStateDir(config.stateDir);
  const stored = await readIdentity(config.stateDir);
  if (stored) {
    if (config.enrollmentToken) log.info('already enrolled: ENROLLMENT_TOKEN ignored');
    return stored;
  }
  if (!config.enrollmentToken) {
    throw new SyncError(
      'CONFIG_INVALID',
      `ENROLLMENT_TOKEN: required on the first start (no identity in ${config.stateDir}); ` +
        'create one with POST /api/v1/sites/{id}/enrollment-tokens',
    );
  }
  const request = {
    enrollmentToken: config.enrollmentToken,
    name: config.name,
    host: os.hostname().slice(0, 253) || 'unknown',
    version,
    adapters,
    concurrency: config.concurrency,
  };
  // An attempt that got no answer may have enrolled the agent all the same (its answer was lost):
  // a one-time token is then used, and the next attempt's refusal must say so.
  let unanswered = false;
  for (let failures = 1; ; failures++) {
    try {
      const res = await client.enroll(request, { signal, timeoutMs: attemptTimeoutMs });
      const identity: Identity = { agentId: res.agentId, siteId: res.siteId, agentToken: res.agentToken };
      await writeIdentity(config.stateDir, identity);
      log.info(
        { agentId: res.agentId, siteId: res.siteId, state: res.state, file: identityPath(config.stateDir) },
        'enrolled',
      );
      return { ...identity, state: res.state };
    } catch (err) {
      if (signal.aborted) throw new SyncError('UNAVAILABLE', 'enrollment cancelled', { cause: err });
      if (hasErrorCode(err, 'ENROLLMENT_INVALID')) {
        throw new SyncError(
          'ENROLLMENT_INVALID',
          'ENROLLMENT_TOKEN: rejected by the coordinator (invalid, used or expired)' +
            (unanswered
              ? `; an earlier attempt got no answer within ${attemptTimeoutMs / 1000} s and may have used it: ` +
                'look for an agent of this host that never came online (syncctl agents list), revoke it, and enroll with a new token'
              : ''),
        );
      }
      if (!isTransient(err)) {
        const status = err instanceof GatewayHttpError ? err.status : 0;
        throw new SyncError('CONFIG_INVALID', `enrollment refused (${status}): ${(err as Error).message}`);
      }
      if (err instanceof GatewayNetworkError && err.timedOut) unanswered = true;
      const delayMs = backoffDelay(failures, 500, 10_000);
      log.warn({ err: (err as Error).message, delayMs }, 'enrollment: coordinator unreachable; retrying');
      await sleep(delayMs, signal);
    }
  }
}
