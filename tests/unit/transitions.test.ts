import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { retryDelayMs } from '../../coordinator/results/backoff.js';
import {
  applyResult,
  beginChange,
  markQueued,
  type TransitionOptions,
} from '../../coordinator/results/transitions.js';
import { rowSealer } from '../../coordinator/secrets.js';
import type { CredentialRow } from '../../coordinator/store/credentials.js';
import { masterKeyFromBase64, SecretBox } from '../../shared/crypto.js';

const box = new SecretBox(masterKeyFromBase64(randomBytes(32).toString('base64')));
const now = new Date('2026-06-01T12:00:00Z');
const opts: TransitionOptions = { now, retryLimit: 3, suspendAfter: 5, random: () => 0.5, ...rowSealer(box) };

function row(patch: Partial<CredentialRow> = {}): CredentialRow {
  const id = randomUUID();
  return {
    id,
    target_id: randomUUID(),
    site_id: randomUUID(),
    username: 'svc',
    policy_id: null,
    group_id: null,
    sync_enabled: true,
    secret: box.seal('old-password', id, 'secret'),
    pending_secret: null,
    pending_id: null,
    pending_state: null,
    status: 'pending_sync',
    status_reason: null,
    status_changed_at: now,
    job_state: 'active',
    job_kind: 'verify',
    job_since: now,
    run_id: null,
    attempt: 0,
    last_outcome: 'ok',
    last_reason: null,
    last_message: null,
    last_detail_code: null,
    last_result_at: null,
    last_verified_at: new Date(now.getTime() - 3_600_000),
    last_changed_at: null,
    stale_at: null,
    next_verify_at: null,
    next_change_at: null,
    verify_interval_s: 86_400,
    verify_paused: false,
    consecutive_failures: 0,
    suspended: false,
    change_wanted: false,
    created_at: now,
    updated_at: now,
    target_kind: 'simulated',
    target_name: 't',
    target_connection: {},
    ...patch,
  };
}

const current = (r: CredentialRow) => box.open(r.secret, r.id, 'secret');
const changing = () => {
  const r = row({ job_kind: 'change' });
  beginChange(r, 'new-password', opts);
  return r;
};

describe('verification results', () => {
  it('ok: verified now, next verification one interval later, failures reset', () => {
    const r = row({ consecutive_failures: 2, attempt: 1 });
    expect(applyResult(r, 'verify', { outcome: 'ok' }, opts)).toEqual({ count: 'success' });
    expect(r).toMatchObject({ job_state: 'idle', last_outcome: 'ok', consecutive_failures: 0, attempt: 0 });
    expect(r.next_verify_at!.getTime() - now.getTime()).toBe(86_400_000);
  });

  it('the first verification starts the daily cycle at a random point of the interval', () => {
    const r = row({ last_verified_at: null });
    applyResult(r, 'verify', { outcome: 'ok' }, { ...opts, random: () => 0.25 });
    expect(r.next_verify_at!.getTime() - now.getTime()).toBe(21_600_001);
  });

  it('an authentication failure is never retried: scheduled verification pauses', () => {
    const r = row();
    applyResult(r, 'verify', { outcome: 'failed', reason: 'mismatch' }, opts);
    expect(r).toMatchObject({ verify_paused: true, next_verify_at: null, last_reason: 'mismatch' });
  });

  it('unreachable is retried with backoff, a bounded number of times', () => {
    const r = row();
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      applyResult(r, 'verify', { outcome: 'failed', reason: 'unreachable' }, opts);
      delays.push(r.next_verify_at!.getTime() - now.getTime());
    }
    expect(delays.slice(0, 3)).toEqual([7_500, 15_000, 30_000]);
    expect(delays[3]).toBe(86_400_000); // retries used up: back to the daily schedule
  });

  it('suspends after N consecutive errors', () => {
    const r = row({ consecutive_failures: 4 });
    applyResult(r, 'verify', { outcome: 'failed', reason: 'error' }, opts);
    expect(r).toMatchObject({ suspended: true, next_verify_at: null });
  });

  it('backoff starts at 10 s, doubles and is capped at 5 min', () => {
    expect(retryDelayMs(1, () => 1)).toBe(10_000);
    expect(retryDelayMs(2, () => 1)).toBe(20_000);
    expect(retryDelayMs(10, () => 1)).toBe(300_000);
    expect(retryDelayMs(10, () => 0)).toBe(150_000);
  });
});

describe('change results (the protocol of design section 6)', () => {
  it('queueing a change stores the pending password sealed, and leaves the current one alone', () => {
    const r = changing();
    markQueued(r, 'change', now);
    expect(r.pending_secret).not.toContain('new-password');
    expect(box.open(r.pending_secret!, r.id, 'pending_secret')).toBe('new-password');
    expect(current(r)).toBe('old-password');
  });

  it('success promotes pending to current and retires the old one', () => {
    const r = changing();
    const effect = applyResult(r, 'change', { outcome: 'ok', works: 'pending' }, opts);
    expect(current(r)).toBe('new-password');
    expect(r.pending_secret).toBeNull();
    expect(box.open(effect.retired!, r.id, 'secret')).toBe('old-password');
    expect(r.last_changed_at).toEqual(now);
  });

  it('a definite refusal discards pending and keeps the old password', () => {
    const r = changing();
    applyResult(r, 'change', { outcome: 'failed', reason: 'change_failed' }, opts);
    expect(current(r)).toBe('old-password');
    expect(r.pending_secret).toBeNull();
    expect(r.last_reason).toBe('change_failed');
  });

  it('anything uncertain keeps both and asks for a reconcile', () => {
    const r = changing();
    const effect = applyResult(r, 'change', { outcome: 'failed', reason: 'change_outcome_unknown' }, opts);
    expect(effect.followUp).toBe('reconcile');
    expect(current(r)).toBe('old-password');
    expect(box.open(r.pending_secret!, r.id, 'pending_secret')).toBe('new-password');
    expect(r.pending_state).toBe('uncertain');
  });

  it('reconcile keeps whichever password works', () => {
    const a = changing();
    applyResult(a, 'reconcile', { outcome: 'ok', works: 'pending' }, opts);
    expect(current(a)).toBe('new-password');
    const b = changing();
    applyResult(b, 'reconcile', { outcome: 'ok', works: 'current' }, opts);
    expect(current(b)).toBe('old-password');
    expect(b.pending_secret).toBeNull();
  });

  it('unreachable before the change keeps the untouched pending password for the retry', () => {
    const r = changing();
    applyResult(r, 'change', { outcome: 'failed', reason: 'unreachable' }, opts);
    expect(r.pending_secret).not.toBeNull();
    expect(r.next_change_at!.getTime()).toBeGreaterThan(now.getTime());
    expect(current(r)).toBe('old-password');
  });
});
