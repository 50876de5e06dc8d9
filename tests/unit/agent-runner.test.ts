import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createAdapterRegistry } from '../../agent/adapters/index.js';
import { simulatedAdapter } from '../../agent/adapters/simulated/index.js';
import type { Adapter, Attempt } from '../../agent/adapters/types.js';
import { WITHHELD_MESSAGE } from '../../agent/message-guard.js';
import { ADAPTER_BUG_MESSAGE, JobRunner } from '../../agent/runner.js';
import type { ClaimedJob, JobOutcome } from '../../shared/contracts/gateway.js';
import type { JobKind } from '../../shared/contracts/jobs.js';

const CURRENT = 'Curr3nt!pw';
const PENDING = 'P3nding#pw';
const log = pino({ level: 'silent' });

type ChangeScript = 'apply' | Attempt | 'apply-then-drop' | 'throw';

/**
 * A scripted target: it holds one password; verify compares with it; change applies the new one
 * or answers as scripted. Every call is recorded.
 */
class ScriptedTarget {
  calls: string[] = [];
  constructor(
    public password: string,
    private readonly script: {
      change?: ChangeScript;
      /** Overrides the answer of verify for a password. */
      verify?: Partial<Record<string, Attempt | 'throw'>>;
    } = {},
  ) {}

  adapter(): Adapter {
    return {
      kind: 'simulated',
      verify: async (_ctx, password) => {
        this.calls.push(
          `verify:${password === CURRENT ? 'current' : password === PENDING ? 'pending' : password}`,
        );
        const scripted = this.script.verify?.[password];
        if (scripted === 'throw') throw new Error(`boom with ${password}`);
        if (scripted) return scripted;
        return password === this.password ? { ok: true } : { ok: false, reason: 'mismatch', definite: true };
      },
      change: async (_ctx, current, next) => {
        this.calls.push('change');
        const script = this.script.change ?? 'apply';
        if (script === 'throw') throw new Error(`boom with ${current} -> ${next}`);
        if (script === 'apply') {
          this.password = next;
          return { ok: true };
        }
        if (script === 'apply-then-drop') {
          this.password = next;
          return { ok: false, reason: 'unreachable', message: 'connection reset after sending' };
        }
        return script;
      },
    };
  }
}

function job(kind: JobKind, overrides: Partial<ClaimedJob> = {}): ClaimedJob {
  return {
    jobId: `${kind[0]}-${randomUUID()}`,
    token: 'lock-token',
    kind,
    credentialId: randomUUID(),
    attempt: 1,
    target: { id: randomUUID(), kind: 'simulated', host: 'h1', connection: {} },
    username: 'admin',
    password: CURRENT,
    ...(kind === 'verify' ? {} : { pendingPassword: PENDING }),
    ...overrides,
  };
}

async function run(
  target: ScriptedTarget,
  j: ClaimedJob,
  signal = new AbortController().signal,
): Promise<JobOutcome> {
  return new JobRunner(createAdapterRegistry([target.adapter()]), log).run(j, signal);
}

describe('runner: verify job', () => {
  it('ok when the password works', async () => {
    const t = new ScriptedTarget(CURRENT);
    expect(await run(t, job('verify'))).toEqual({ outcome: 'ok' });
    expect(t.calls).toEqual(['verify:current']);
  });

  it('failed with the adapter reason and message', async () => {
    const t = new ScriptedTarget(CURRENT, {
      verify: { [CURRENT]: { ok: false, reason: 'locked_or_disabled', message: 'account locked' } },
    });
    expect(await run(t, job('verify'))).toEqual({
      outcome: 'failed',
      reason: 'locked_or_disabled',
      message: 'account locked',
    });
  });

  it('a throwing adapter is a generic error, its message (with the password) never shown', async () => {
    const t = new ScriptedTarget(CURRENT, { verify: { [CURRENT]: 'throw' } });
    expect(await run(t, job('verify'))).toEqual({
      outcome: 'failed',
      reason: 'error',
      message: ADAPTER_BUG_MESSAGE,
    });
  });
});

describe('runner: detail codes', () => {
  const hostKey: Attempt = {
    ok: false,
    reason: 'error',
    message: 'host key changed: expected A, got B',
    definite: true,
    detailCode: 'host_key_changed',
  };

  it('the outcome carries the detail code of the attempt that decided it', async () => {
    const t = new ScriptedTarget(CURRENT, { verify: { [CURRENT]: hostKey } });
    expect(await run(t, job('verify'))).toEqual({
      outcome: 'failed',
      reason: 'error',
      message: 'host key changed: expected A, got B',
      detailCode: 'host_key_changed',
    });
    // Through the change protocol: the check of the current password decides.
    const c = new ScriptedTarget(CURRENT, { verify: { [CURRENT]: hostKey, [PENDING]: hostKey } });
    expect(await run(c, job('change'))).toMatchObject({ outcome: 'failed', detailCode: 'host_key_changed' });
  });

  it('not the detail of an earlier attempt when another one decided', async () => {
    // "Already changed?" fails with a detail; the current password then fails another way.
    const t = new ScriptedTarget('something-else', {
      verify: { [PENDING]: { ...hostKey, message: 'first attempt' } },
    });
    const outcome = await run(t, job('change'));
    expect(outcome).toEqual({ outcome: 'failed', reason: 'mismatch' });
  });
});

describe('runner: change job', () => {
  it('1. pending already works: ok pending, nothing changed', async () => {
    const t = new ScriptedTarget(PENDING);
    expect(await run(t, job('change'))).toEqual({ outcome: 'ok', works: 'pending' });
    expect(t.calls).toEqual(['verify:pending']);
  });

  it('1b. target unreachable: failed unreachable, no second login, no change', async () => {
    const t = new ScriptedTarget(CURRENT, {
      verify: { [PENDING]: { ok: false, reason: 'unreachable', definite: true } },
    });
    expect(await run(t, job('change'))).toEqual({ outcome: 'failed', reason: 'unreachable' });
    expect(t.calls).toEqual(['verify:pending']);
  });

  it('2. current does not work: failed with its reason, no change attempted', async () => {
    const t = new ScriptedTarget('something-else');
    expect(await run(t, job('change'))).toEqual({ outcome: 'failed', reason: 'mismatch' });
    // The pending password may be set (by an earlier holder of the job): looked at again after the failure.
    expect(t.calls).toEqual(['verify:pending', 'verify:current', 'verify:pending']);
    const first = new ScriptedTarget('something-else');
    expect(await run(first, job('change', { pendingMayBeSet: false }))).toEqual({
      outcome: 'failed',
      reason: 'mismatch',
    });
    expect(first.calls).toEqual(['verify:current']);

    const locked = new ScriptedTarget(CURRENT, {
      verify: { [CURRENT]: { ok: false, reason: 'locked_or_disabled', message: 'locked' } },
    });
    expect(await run(locked, job('change'))).toEqual({
      outcome: 'failed',
      reason: 'locked_or_disabled',
      message: 'locked',
    });
    expect(locked.calls).not.toContain('change');
  });

  it('3. definite refusal: change_failed', async () => {
    const t = new ScriptedTarget(CURRENT, {
      change: { ok: false, reason: 'change_failed', message: 'password policy: too short', definite: true },
    });
    expect(await run(t, job('change', { pendingMayBeSet: false }))).toEqual({
      outcome: 'failed',
      reason: 'change_failed',
      message: 'password policy: too short',
    });
    expect(t.password).toBe(CURRENT);
  });

  it('3. any other definite failure keeps its own reason (nothing was sent): workflow_failed, error', async () => {
    for (const reason of ['workflow_failed', 'error'] as const) {
      const t = new ScriptedTarget(CURRENT, {
        change: { ok: false, reason, message: 'change page: no field', definite: true },
      });
      expect(await run(t, job('change', { pendingMayBeSet: false }))).toEqual({
        outcome: 'failed',
        reason,
        message: 'change page: no field',
      });
    }
  });

  it('3. first attempt: the current password refused at the change login is mismatch (nothing sent)', async () => {
    const t = new ScriptedTarget(CURRENT, { change: { ok: false, reason: 'mismatch', definite: true } });
    expect(await run(t, job('change', { pendingMayBeSet: false }))).toEqual({
      outcome: 'failed',
      reason: 'mismatch',
    });
  });

  it('3. unreachable before anything was sent (definite): unreachable', async () => {
    const t = new ScriptedTarget(CURRENT, { change: { ok: false, reason: 'unreachable', definite: true } });
    expect(await run(t, job('change'))).toEqual({ outcome: 'failed', reason: 'unreachable' });
  });

  it('3. uncertain failure (connection dropped after sending): change_outcome_unknown', async () => {
    const t = new ScriptedTarget(CURRENT, { change: 'apply-then-drop' });
    expect(await run(t, job('change'))).toEqual({
      outcome: 'failed',
      reason: 'change_outcome_unknown',
      message: 'connection reset after sending',
    });
    expect(t.password).toBe(PENDING);
  });

  it('3. a refusal not marked definite is uncertain', async () => {
    const t = new ScriptedTarget(CURRENT, { change: { ok: false, reason: 'error' } });
    expect(await run(t, job('change'))).toEqual({ outcome: 'failed', reason: 'change_outcome_unknown' });
  });

  it('3. a throwing change is uncertain, never a definite failure', async () => {
    const t = new ScriptedTarget(CURRENT, { change: 'throw' });
    expect(await run(t, job('change'))).toEqual({
      outcome: 'failed',
      reason: 'change_outcome_unknown',
      message: ADAPTER_BUG_MESSAGE,
    });
  });

  it('4. changed and the new password works: ok pending', async () => {
    const t = new ScriptedTarget(CURRENT);
    expect(await run(t, job('change'))).toEqual({ outcome: 'ok', works: 'pending' });
    expect(t.calls).toEqual(['verify:pending', 'verify:current', 'change', 'verify:pending']);
    expect(t.password).toBe(PENDING);
  });

  it("first attempt (pendingMayBeSet false): no 'already changed?' login with the pending password", async () => {
    const t = new ScriptedTarget(CURRENT);
    expect(await run(t, job('change', { pendingMayBeSet: false }))).toEqual({
      outcome: 'ok',
      works: 'pending',
    });
    expect(t.calls).toEqual(['verify:current', 'change', 'verify:pending']);
  });

  it('with a privileged account, a current password that no longer works is reset', async () => {
    const t = new ScriptedTarget('changed-out-of-band');
    const privileged = { username: 'root', password: 'r00t' };
    expect(await run(t, job('change', { privileged, pendingMayBeSet: false }))).toEqual({
      outcome: 'ok',
      works: 'pending',
    });
    expect(t.calls).toEqual(['verify:current', 'change', 'verify:pending']);
    const withoutPrivileged = new ScriptedTarget('changed-out-of-band');
    expect(await run(withoutPrivileged, job('change'))).toMatchObject({
      outcome: 'failed',
      reason: 'mismatch',
    });
    expect(withoutPrivileged.calls).not.toContain('change');
  });

  it('4. change said ok but the new password does not work: change_outcome_unknown', async () => {
    const t = new ScriptedTarget(CURRENT, { change: { ok: true } });
    const outcome = await run(t, job('change'));
    expect(outcome).toMatchObject({ outcome: 'failed', reason: 'change_outcome_unknown' });
  });

  it('no change when the job was aborted before the change step', async () => {
    const controller = new AbortController();
    const t = new ScriptedTarget(CURRENT);
    const adapter = t.adapter();
    const verify = adapter.verify;
    adapter.verify = async (ctx, pw) => {
      const r = await verify(ctx, pw);
      if (pw === CURRENT) controller.abort();
      return r;
    };
    await new JobRunner(createAdapterRegistry([adapter]), log).run(job('change'), controller.signal);
    expect(t.calls).not.toContain('change');
    expect(t.password).toBe(CURRENT);
  });

  it('no change when the lock fence says the lock is not confirmed: unreachable, nothing sent', async () => {
    const t = new ScriptedTarget(CURRENT);
    const runner = new JobRunner(createAdapterRegistry([t.adapter()]), log);
    const outcome = await runner.run(job('change'), new AbortController().signal, () =>
      Promise.resolve(false),
    );
    expect(outcome).toMatchObject({ outcome: 'failed', reason: 'unreachable' });
    expect(outcome.message).toMatch(/lock could not be confirmed/);
    expect(t.calls).not.toContain('change');
    expect(t.password).toBe(CURRENT);
  });

  it('a change job without a pending password is an error', async () => {
    const t = new ScriptedTarget(CURRENT);
    const j = job('change');
    delete j.pendingPassword;
    expect(await run(t, j)).toMatchObject({ outcome: 'failed', reason: 'error' });
    expect(t.calls).toEqual([]);
  });
});

/**
 * A second holder of a stalled job (pendingMayBeSet) while the first one, which lost its lock, is
 * still running: the first sets the pending password at the worst moment.
 */
describe('runner: change job racing an earlier holder of the same job', () => {
  /** The earlier holder sets PENDING right after the `n`-th call of the second holder. */
  const racing = (afterCall: string, extra: { change?: ChangeScript } = {}) => {
    const t = new ScriptedTarget(CURRENT, extra);
    const adapter = t.adapter();
    const hook =
      (name: 'verify' | 'change', inner: (...a: never[]) => Promise<Attempt>) =>
      async (...args: never[]): Promise<Attempt> => {
        const answer = await inner(...args);
        if (t.calls.at(-1) === afterCall && !t.calls.includes('earlier-holder')) {
          t.calls.push('earlier-holder');
          t.password = PENDING;
        }
        return answer;
      };
    adapter.verify = hook('verify', adapter.verify as never);
    adapter.change = hook('change', adapter.change as never);
    return { t, runner: new JobRunner(createAdapterRegistry([adapter]), log) };
  };

  it('sets it during the check of the current password: found on a second look, ok pending', async () => {
    // The current check is answered after the earlier holder's change: mismatch.
    const t = new ScriptedTarget(CURRENT);
    const adapter = t.adapter();
    const verify = adapter.verify;
    adapter.verify = async (ctx, pw) => {
      if (pw === CURRENT) t.password = PENDING;
      return verify(ctx, pw);
    };
    const outcome = await new JobRunner(createAdapterRegistry([adapter]), log).run(
      job('change'),
      new AbortController().signal,
    );
    expect(outcome).toEqual({ outcome: 'ok', works: 'pending' });
    expect(t.calls).toEqual(['verify:pending', 'verify:current', 'verify:pending']);
  });

  it('sets it between the check and the change (the change login fails): found on a second look', async () => {
    const { t, runner } = racing('verify:current', {
      change: { ok: false, reason: 'mismatch', message: 'password authentication failed', definite: true },
    });
    expect(await runner.run(job('change'), new AbortController().signal)).toEqual({
      outcome: 'ok',
      works: 'pending',
    });
    expect(t.calls).toEqual([
      'verify:pending',
      'verify:current',
      'earlier-holder',
      'change',
      'verify:pending',
    ]);
  });

  it('the change login fails and the pending one does not log in yet: uncertain, never a definite failure', async () => {
    const t = new ScriptedTarget(CURRENT, {
      change: { ok: false, reason: 'mismatch', message: 'password authentication failed', definite: true },
    });
    expect(await run(t, job('change'))).toMatchObject({
      outcome: 'failed',
      reason: 'change_outcome_unknown',
    });
  });

  it('a definite refusal after the earlier holder set it: found on a second look', async () => {
    const { runner } = racing('verify:current', {
      change: { ok: false, reason: 'change_failed', message: 'refused', definite: true },
    });
    expect(await runner.run(job('change'), new AbortController().signal)).toEqual({
      outcome: 'ok',
      works: 'pending',
    });
  });
});

describe('runner: reconcile job', () => {
  it('pending works: ok pending', async () => {
    expect(await run(new ScriptedTarget(PENDING), job('reconcile'))).toEqual({
      outcome: 'ok',
      works: 'pending',
    });
  });

  it('current works: ok current', async () => {
    const t = new ScriptedTarget(CURRENT);
    expect(await run(t, job('reconcile'))).toEqual({ outcome: 'ok', works: 'current' });
    expect(t.calls).toEqual(['verify:pending', 'verify:current']);
  });

  it('neither works: mismatch; otherwise the reason of the last attempt', async () => {
    expect(await run(new ScriptedTarget('other'), job('reconcile'))).toEqual({
      outcome: 'failed',
      reason: 'mismatch',
    });
    const locked = new ScriptedTarget('other', {
      verify: { [CURRENT]: { ok: false, reason: 'locked_or_disabled' } },
    });
    expect(await run(locked, job('reconcile'))).toEqual({ outcome: 'failed', reason: 'locked_or_disabled' });
  });

  it("the pending password's check failed for another reason: still open, never 'neither works'", async () => {
    const t = new ScriptedTarget('other', {
      verify: { [PENDING]: { ok: false, reason: 'workflow_failed', message: 'login page changed' } },
    });
    expect(await run(t, job('reconcile'))).toEqual({
      outcome: 'failed',
      reason: 'workflow_failed',
      message: 'login page changed',
    });
  });
});

describe('runner: guards', () => {
  it('replaces a message that contains the current or the pending password', async () => {
    const leaky = new ScriptedTarget(CURRENT, {
      verify: { [CURRENT]: { ok: false, reason: 'mismatch', message: `login failed for admin/${CURRENT}` } },
    });
    expect(await run(leaky, job('verify'))).toEqual({
      outcome: 'failed',
      reason: 'mismatch',
      message: WITHHELD_MESSAGE,
    });

    const leakyChange = new ScriptedTarget(CURRENT, {
      change: {
        ok: false,
        reason: 'error',
        message: `new password ${encodeURIComponent(PENDING)} refused`,
        definite: true,
      },
    });
    expect(await run(leakyChange, job('change'))).toEqual({
      outcome: 'failed',
      reason: 'error',
      message: WITHHELD_MESSAGE,
    });
  });

  it("replaces a message that contains the privileged account's password", async () => {
    const privileged = { username: 'root', password: 'R00t-pr1v!' };
    const leaky = new ScriptedTarget(CURRENT, {
      change: {
        ok: false,
        reason: 'change_failed',
        message: `sudo refused root with ${privileged.password}`,
        definite: true,
      },
    });
    expect(await run(leaky, job('change', { privileged, pendingMayBeSet: false }))).toEqual({
      outcome: 'failed',
      reason: 'change_failed',
      message: WITHHELD_MESSAGE,
    });
  });

  it('cuts long messages to the contract limit', async () => {
    const t = new ScriptedTarget(CURRENT, {
      verify: { [CURRENT]: { ok: false, reason: 'error', message: 'x'.repeat(2000) } },
    });
    const outcome = await run(t, job('verify'));
    expect(outcome.message?.length).toBe(500);
  });

  it('an unknown target kind or a bad connection fails without calling the adapter', async () => {
    const t = new ScriptedTarget(CURRENT);
    const unknownKind = job('verify', {
      target: { id: randomUUID(), kind: 'mainframe', host: 'h', connection: {} },
    });
    expect(await run(t, unknownKind)).toMatchObject({ outcome: 'failed', reason: 'error' });
    const bad = job('verify', {
      target: { id: randomUUID(), kind: 'simulated', host: 'h', connection: { latencyMs: CURRENT } },
    });
    const outcome = await run(t, bad);
    expect(outcome).toMatchObject({ outcome: 'failed', reason: 'error' });
    expect(outcome.message).toContain('connection.latencyMs');
    expect(outcome.message).not.toContain(CURRENT);
    expect(t.calls).toEqual([]);
  });
});

describe('simulated adapter', () => {
  const runner = new JobRunner(createAdapterRegistry([simulatedAdapter]), log);
  const simJob = (kind: JobKind, connection: Record<string, unknown>): ClaimedJob =>
    job(kind, { target: { id: randomUUID(), kind: 'simulated', host: 'sim', connection } });

  it('accepts any password: a change completes', async () => {
    expect(await runner.run(simJob('change', {}), new AbortController().signal)).toEqual({
      outcome: 'ok',
      works: 'pending',
    });
  });

  it('fails with failReason at failRate 1', async () => {
    const outcome = await runner.run(
      simJob('verify', { failRate: 1, failReason: 'locked_or_disabled' }),
      new AbortController().signal,
    );
    expect(outcome).toMatchObject({ outcome: 'failed', reason: 'locked_or_disabled' });
  });

  it('waits latencyMs, and stops waiting when aborted', async () => {
    const started = Date.now();
    await runner.run(simJob('verify', { latencyMs: 50 }), new AbortController().signal);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);

    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    const t0 = Date.now();
    const outcome = await runner.run(simJob('verify', { latencyMs: 10_000 }), controller.signal);
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(outcome).toMatchObject({ outcome: 'failed', reason: 'unreachable' });
  });
});
