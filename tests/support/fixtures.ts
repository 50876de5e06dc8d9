import { randomBytes } from 'node:crypto';
import type { CredentialView, SyncRunView } from '../../shared/contracts/api.js';
import {
  GATEWAY_PATHS,
  type ClaimedJob,
  type ExtendResponse,
  type JobOutcome,
  type ReleaseResponse,
  type ReportResponse,
} from '../../shared/contracts/gateway.js';
import { VERSION } from '../../shared/version.js';
import { api, type ApiClient, type ApiResponse } from './http.js';
import { waitFor, type WaitOptions } from './wait.js';

/** An API error body: `{error: {code, message, issues?: [{field, message}]}}`. */
export interface ErrorBody {
  error: { code: string; message: string; issues?: { field: string; message: string }[] };
}

const suffix = (): string => randomBytes(4).toString('hex');

/** Awaits a response and insists on its status; the error shows the body (the reason, usually). */
export async function expectStatus<T>(
  pending: Promise<ApiResponse<unknown>>,
  status: number,
  what = 'request',
): Promise<T> {
  const res = await pending;
  if (res.status !== status) {
    throw new Error(`${what}: expected HTTP ${status}, got ${res.status}: ${JSON.stringify(res.body)}`);
  }
  return res.body as T;
}

export async function createSite(admin: ApiClient, name = `site-${suffix()}`): Promise<{ id: string }> {
  return expectStatus(admin.post('/sites', { name }), 201, 'POST /sites');
}

export async function createEnrollmentToken(admin: ApiClient, siteId: string): Promise<string> {
  const body = await expectStatus<{ token: string }>(
    admin.post(`/sites/${siteId}/enrollment-tokens`, {}),
    201,
    'POST /sites/{id}/enrollment-tokens',
  );
  return body.token;
}

/** A `simulated` target on the site; `connection` as in the contract (latencyMs, failRate, …). */
export async function createTarget(
  admin: ApiClient,
  siteId: string,
  connection: Record<string, unknown> = {},
  name = `target-${suffix()}`,
): Promise<string> {
  const body = await expectStatus<{ id: string }>(
    admin.post('/targets', { siteId, name, kind: 'simulated', connection }),
    201,
    'POST /targets',
  );
  return body.id;
}

export interface CreatedCredential {
  id: string;
  status: string;
  username: string;
  password: string;
}

export async function createCredential(
  admin: ApiClient,
  targetId: string,
  options: { username?: string; password?: string; syncEnabled?: boolean } = {},
): Promise<CreatedCredential> {
  const username = options.username ?? `user-${suffix()}`;
  const password = options.password ?? `pw-${randomBytes(12).toString('base64url')}`;
  const body = await expectStatus<{ id: string; status: string }>(
    admin.post('/credentials', {
      targetId,
      username,
      password,
      ...(options.syncEnabled === undefined ? {} : { syncEnabled: options.syncEnabled }),
    }),
    201,
    'POST /credentials',
  );
  return { ...body, username, password };
}

/** Creates `count` credentials on a target, `parallel` requests at a time. */
export async function createCredentials(
  admin: ApiClient,
  targetId: string,
  count: number,
  parallel = 10,
): Promise<CreatedCredential[]> {
  const created: CreatedCredential[] = [];
  for (let i = 0; i < count; i += parallel) {
    const n = Math.min(parallel, count - i);
    created.push(
      ...(await Promise.all(
        Array.from({ length: n }, (_, k) =>
          createCredential(admin, targetId, { username: `user-${i + k}-${suffix()}` }),
        ),
      )),
    );
  }
  return created;
}

export function getCredential(admin: ApiClient, id: string): Promise<CredentialView> {
  return expectStatus<CredentialView>(admin.get(`/credentials/${id}`), 200, `GET /credentials/${id}`);
}

export function getSyncRun(admin: ApiClient, id: string): Promise<SyncRunView> {
  return expectStatus<SyncRunView>(admin.get(`/sync-runs/${id}`), 200, `GET /sync-runs/${id}`);
}

/** Every credential of a site (follows the cursor). */
export async function listCredentials(
  admin: ApiClient,
  filter: { siteId?: string; targetId?: string } = {},
): Promise<CredentialView[]> {
  const items: CredentialView[] = [];
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({ limit: '500' });
    if (filter.siteId) query.set('siteId', filter.siteId);
    if (filter.targetId) query.set('targetId', filter.targetId);
    if (cursor) query.set('cursor', cursor);
    const page: { items: CredentialView[]; nextCursor: string | null } = await expectStatus(
      admin.get(`/credentials?${query.toString()}`),
      200,
      'GET /credentials',
    );
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return items;
}

export interface Held {
  jobId: string;
  token: string;
}

export const held = (job: ClaimedJob): Held => ({ jobId: job.jobId, token: job.token });

/**
 * A fake agent speaking the gateway protocol over HTTP with a real agent token from enrolling:
 * for tests that need to decide exactly when it claims, extends, reports, or vanishes.
 */
export class FakeAgent {
  readonly gateway: ApiClient;

  private constructor(
    readonly agentId: string,
    readonly siteId: string,
    readonly token: string,
    baseUrl: string,
  ) {
    this.gateway = api(baseUrl, token);
  }

  /** Enrolls with a fresh enrollment token of the site. */
  static async enroll(
    baseUrl: string,
    admin: ApiClient,
    siteId: string,
    name = `fake-agent-${suffix()}`,
    version = VERSION,
  ): Promise<FakeAgent> {
    const enrollmentToken = await createEnrollmentToken(admin, siteId);
    const body = await expectStatus<{ agentId: string; siteId: string; agentToken: string }>(
      api(baseUrl).post(GATEWAY_PATHS.enroll, {
        enrollmentToken,
        name,
        host: 'fake-host',
        // The product's own version: the coordinator refuses claims from versions it does not support.
        version,
        adapters: ['simulated'],
        concurrency: 10,
      }),
      201,
      'enroll',
    );
    return new FakeAgent(body.agentId, body.siteId, body.agentToken, baseUrl);
  }

  claimRaw(max: number, waitMs = 0): Promise<ApiResponse<unknown>> {
    return this.gateway.post(GATEWAY_PATHS.claim, { max, waitMs });
  }

  async claim(max: number, waitMs = 0): Promise<ClaimedJob[]> {
    const body = await expectStatus<{ jobs: ClaimedJob[] }>(this.claimRaw(max, waitMs), 200, 'claim');
    return body.jobs;
  }

  /** Claims until `count` jobs are held, or a claim waiting `waitMs` brings nothing more. */
  async claimAll(count: number, waitMs = 2000): Promise<ClaimedJob[]> {
    const jobs: ClaimedJob[] = [];
    while (jobs.length < count) {
      const got = await this.claim(count - jobs.length, waitMs);
      if (got.length === 0) break;
      jobs.push(...got);
    }
    return jobs;
  }

  extend(jobs: Held[]): Promise<ExtendResponse> {
    return expectStatus(this.gateway.post(GATEWAY_PATHS.extend, { jobs }), 200, 'extend');
  }

  release(jobs: Held[]): Promise<ReleaseResponse> {
    return expectStatus(this.gateway.post(GATEWAY_PATHS.release, { jobs }), 200, 'release');
  }

  report(jobs: Held[], result: JobOutcome = { outcome: 'ok' }): Promise<ReportResponse> {
    return expectStatus(
      this.gateway.post(GATEWAY_PATHS.report, {
        results: jobs.map((j) => ({ jobId: j.jobId, token: j.token, result, durationMs: 1 })),
      }),
      200,
      'report',
    );
  }

  heartbeatRaw(inFlight = 0): Promise<ApiResponse<unknown>> {
    return this.gateway.post(GATEWAY_PATHS.heartbeat, { inFlight });
  }
}

/** waitFor for a check that returns the awaited value or a falsy "not yet": resolves with the value. */
export async function waitForValue<T>(
  fn: () => Promise<T | false | undefined | null> | T | false | undefined | null,
  options: WaitOptions = {},
): Promise<T> {
  return (await waitFor(fn, options)) as T;
}
