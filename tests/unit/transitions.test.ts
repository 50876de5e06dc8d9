import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { retryDelayMs } from '../../coordinator/credentials/retry.js';
import {
  applyResult,
  beginChange,
  markHandedOut,
  markQueued,
  pendingMayBeSet,
  type TransitionOptions,
} from '../../coordinator/credentials/transitions.js';
import { rowSealer } from '../../coordinator/credentials/sealing.js';
import type { CredentialRow } from '../../coordinator/credentials/store.js';
import type { JobOutcome } from '../../shared/contracts/gateway.js';
import type { Reason } from '../../shared/contracts/status.js';
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
    pending_handouts: 0,
    status: 'pending_sync',
    status_reason: null,
    status_changed_at: now,
    job_state: 'active',
    job_kind: 'verify',
    job_since: now,
    job_missing_since: null,
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
const pending = (r: CredentialRow) => box.open(r.pending_secret!, r.id, 'pending_secret');
/** A change handed out `handouts` times (the reporting attempt's own hand-out included). */
const changing = (handouts = 1) => {
  const r = row({ job_kind: 'change', job_state: 'queued' });
  beginChange(r, 'new-password', opts);
  for (let i = 0; i < handouts; i++) markHandedOut(r, 'change', now);
  return r;
};
const failedWith = (reason: Exclude<Reason, 'stale'>): JobOutcome => ({ outcome: 'failed', reason });

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

describe('change results (the protocol of docs/change-protocol.md)', () => {
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
    // Set, but only a reconcile could tell: counts partial in its run (docs/sync-runs.md).
    expect(applyResult(a, 'reconcile', { outcome: 'ok', works: 'pending' }, opts).count).toBe('partial');
    expect(current(a)).toBe('new-password');
    const b = changing();
    expect(applyResult(b, 'reconcile', { outcome: 'ok', works: 'current' }, opts).count).toBe('failed');
    expect(current(b)).toBe('old-password');
    expect(b.pending_secret).toBeNull();
    // A change that proved its new password at once is a plain success.
    expect(applyResult(changing(), 'change', { outcome: 'ok', works: 'pending' }, opts).count).toBe(
      'success',
    );
  });

  it('unreachable before the change keeps the untouched pending password for the retry', () => {
    const r = changing();
    applyResult(r, 'change', { outcome: 'failed', reason: 'unreachable' }, opts);
    expect(r.pending_secret).not.toBeNull();
    expect(r.next_change_at!.getTime()).toBeGreaterThan(now.getTime());
    expect(current(r)).toBe('old-password');
  });
});

describe('a pending password that may be set is never let go without proof (docs/change-protocol.md)', () => {
  it('a hand-out is recorded: from then on the pending password may be set', () => {
    const r = row({ job_kind: 'change', job_state: 'queued' });
    beginChange(r, 'new-password', opts);
    expect(pendingMayBeSet(r)).toBe(false);
    expect(markHandedOut(r, 'change', now)).toBe(false); // the first attempt: nothing can be set yet
    expect(r).toMatchObject({ job_state: 'active', pending_handouts: 1, pending_state: 'new' });
    expect(pendingMayBeSet(r)).toBe(true);
    expect(markHandedOut(r, 'change', now)).toBe(true); // a second holder must try pending first
    expect(markHandedOut(r, 'reconcile', now)).toBe(true);
    expect(r.pending_handouts).toBe(2); // reconciles never set anything: not counted
  });

  it('an earlier hand-out open: mismatch does not discard, pending kept as uncertain, paused', () => {
    const r = changing(2);
    const effect = applyResult(r, 'change', failedWith('mismatch'), opts);
    expect(effect).toEqual({ count: 'failed' });
    expect(pending(r)).toBe('new-password');
    expect(r).toMatchObject({ pending_state: 'uncertain', verify_paused: true, last_reason: 'mismatch' });
    expect(current(r)).toBe('old-password');
  });

  it('an earlier hand-out open: change_failed, workflow_failed or error reconcile instead of discarding', () => {
    for (const reason of ['change_failed', 'workflow_failed', 'error'] as const) {
      const r = changing(2);
      expect(applyResult(r, 'change', failedWith(reason), opts)).toEqual({ followUp: 'reconcile' });
      expect(pending(r)).toBe('new-password');
      expect(r.pending_state).toBe('uncertain');
    }
  });

  it('scenario D: retries run out on unreachable while an earlier hand-out is open: kept, settled later', () => {
    const r = changing(2);
    applyResult(r, 'change', failedWith('unreachable'), { ...opts, retryLimit: 0 });
    expect(pending(r)).toBe('new-password');
    expect(pendingMayBeSet(r)).toBe(true); // the earlier hand-out is still open
    expect(r.next_change_at!.getTime() - now.getTime()).toBe(86_400_000);
  });

  it('unreachable hand-outs are taken back: retries of an untouched pending stay first attempts', () => {
    const r = changing(1);
    expect(applyResult(r, 'change', failedWith('unreachable'), opts)).toEqual({});
    expect(r.pending_handouts).toBe(0);
    expect(pendingMayBeSet(r)).toBe(false);
    expect(r.next_change_at!.getTime()).toBeGreaterThan(now.getTime());
    expect(r.next_verify_at).toBeNull();
  });

  it('an uncertain result is never taken back', () => {
    const r = changing(1);
    expect(applyResult(r, 'change', failedWith('change_outcome_unknown'), opts)).toEqual({
      followUp: 'reconcile',
    });
    expect(r.pending_handouts).toBe(1);
    applyResult(r, 'reconcile', failedWith('unreachable'), { ...opts, retryLimit: 0 });
    expect(pending(r)).toBe('new-password');
  });

  it('every discarded pending password that was handed out is returned for history', () => {
    const a = changing(1);
    const refused = applyResult(a, 'change', failedWith('change_failed'), opts);
    expect(box.open(refused.discarded!, a.id, 'pending_secret')).toBe('new-password');
    const b = changing(1);
    b.pending_state = 'uncertain';
    const reconciled = applyResult(b, 'reconcile', { outcome: 'ok', works: 'current' }, opts);
    expect(box.open(reconciled.discarded!, b.id, 'pending_secret')).toBe('new-password');
    const c = changing(1);
    const gaveUp = applyResult(c, 'change', failedWith('unreachable'), { ...opts, retryLimit: 0 });
    expect(box.open(gaveUp.discarded!, c.id, 'pending_secret')).toBe('new-password');
  });

  it('a first attempt whose check before the change failed with workflow_failed or error keeps its reason and the change', () => {
    for (const reason of ['workflow_failed', 'error'] as const) {
      const r = changing(1);
      const effect = applyResult(r, 'change', failedWith(reason), opts);
      expect(effect.count).toBe('failed');
      expect(effect.followUp).toBeUndefined();
      expect(r).toMatchObject({ pending_secret: null, last_reason: reason, change_wanted: true });
      expect(r.next_change_at!.getTime() - now.getTime()).toBe(86_400_000);
      expect(current(r)).toBe('old-password');
    }
  });

  it('a reconcile that ends uncertain is retried with backoff, then daily, never dropped', () => {
    const r = changing(1);
    r.pending_state = 'uncertain';
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const effect = applyResult(r, 'reconcile', failedWith('workflow_failed'), opts);
      expect(effect.followUp).toBeUndefined();
      delays.push(r.next_change_at!.getTime() - now.getTime());
      expect(r.next_verify_at).toBeNull();
      expect(r.last_reason).toBe('change_outcome_unknown');
    }
    expect(delays).toEqual([7_500, 15_000, 30_000, 86_400_000]);
    expect(pending(r)).toBe('new-password');
  });

  it('a reconcile where neither password logs in keeps the pending password and pauses', () => {
    const r = changing(1);
    r.pending_state = 'uncertain';
    expect(applyResult(r, 'reconcile', failedWith('mismatch'), opts)).toEqual({ count: 'failed' });
    expect(pending(r)).toBe('new-password');
    expect(r).toMatchObject({ verify_paused: true, next_verify_at: null, pending_state: 'uncertain' });
  });
});
