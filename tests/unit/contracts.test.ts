import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CreateCredentialBody, CreateTargetBody } from '../../shared/contracts/api.js';
import { ClaimRequestSchema, ReportRequestSchema } from '../../shared/contracts/gateway.js';
import {
  JobDataSchema,
  isCoordinatorJobId,
  jobIdFor,
  parseJobId,
  parseTrialJobId,
  trialJobIdFor,
  siteQueueName,
  siteQueuePrefix,
} from '../../shared/contracts/jobs.js';
import { parseConnection } from '../../shared/targets/index.js';
import { SyncError } from '../../shared/errors.js';

describe('job contract', () => {
  it('job ids are deterministic per credential and kind, and parse back', () => {
    const id = randomUUID();
    expect(jobIdFor('verify', id)).toBe(jobIdFor('verify', id));
    expect(jobIdFor('verify', id)).not.toBe(jobIdFor('change', id));
    expect(jobIdFor('change', id)).not.toContain(':');
    for (const kind of ['verify', 'change', 'reconcile'] as const)
      expect(parseJobId(jobIdFor(kind, id))).toEqual({ kind, credentialId: id });
    expect(parseJobId('x-' + id)).toBeNull();
    expect(parseJobId('v-not-a-uuid')).toBeNull();
    // A login trial's job id is not a credential's: parseJobId leaves it to parseTrialJobId.
    expect(parseJobId(trialJobIdFor(id))).toBeNull();
    expect(parseTrialJobId(trialJobIdFor(id))).toBe(id);
    expect(parseTrialJobId(jobIdFor('verify', id))).toBeNull();
    expect(isCoordinatorJobId(trialJobIdFor(id)) && isCoordinatorJobId(jobIdFor('change', id))).toBe(true);
    expect(isCoordinatorJobId('t-nope')).toBe(false);
  });

  it('a job payload cannot carry anything but ids (no secret can ride along)', () => {
    const credentialId = randomUUID();
    expect(JobDataSchema.safeParse({ v: 1, credentialId }).success).toBe(true);
    expect(JobDataSchema.safeParse({ v: 1, credentialId, password: 'x' }).success).toBe(false);
  });

  it('site queues are named site-<id> and hash-tagged per site', () => {
    expect(siteQueueName('abc')).toBe('site-abc');
    expect(siteQueuePrefix('pws', 'abc')).toBe('pws:{site-abc}');
  });
});

describe('gateway contract', () => {
  it('bounds claims and rejects unknown fields', () => {
    expect(ClaimRequestSchema.parse({ max: 5 }).waitMs).toBe(20_000);
    expect(ClaimRequestSchema.safeParse({ max: 0 }).success).toBe(false);
    expect(ClaimRequestSchema.safeParse({ max: 5, siteId: randomUUID() }).success).toBe(false);
    expect(ClaimRequestSchema.safeParse({ max: 1, priorityOnly: true }).success).toBe(true);
    const two = ClaimRequestSchema.safeParse({ max: 2, priorityOnly: true });
    expect(two.success).toBe(false);
    expect(two.error?.issues[0]?.path).toEqual(['max']);
  });

  it('a failed result needs a reason; an agent cannot name the credential', () => {
    const item = { jobId: 'v-x', token: 't', durationMs: 1 };
    expect(
      ReportRequestSchema.safeParse({ results: [{ ...item, result: { outcome: 'failed' } }] }).success,
    ).toBe(false);
    expect(
      ReportRequestSchema.safeParse({
        results: [{ ...item, result: { outcome: 'failed', reason: 'mismatch' } }],
      }).success,
    ).toBe(true);
    expect(
      ReportRequestSchema.safeParse({
        results: [{ ...item, credentialId: randomUUID(), result: { outcome: 'ok' } }],
      }).success,
    ).toBe(false);
  });
});

describe('API contract', () => {
  it('names the bad fields of a credential', () => {
    const r = CreateCredentialBody.safeParse({ targetId: 'nope', username: '', password: 'x' });
    expect(r.error?.issues.map((i) => i.path.join('.')).sort()).toEqual(['targetId', 'username']);
  });

  it('knows the four target kinds and validates the connection per kind', () => {
    expect(CreateTargetBody.safeParse({ siteId: randomUUID(), name: 't', kind: 'mainframe' }).success).toBe(
      false,
    );
    expect(parseConnection('simulated', {})).toMatchObject({ latencyMs: 0, failRate: 0 });
    try {
      parseConnection('simulated', { failRate: 2 });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(SyncError);
      expect((err as SyncError).issues?.[0]?.field).toBe('connection.failRate');
    }
  });
});
