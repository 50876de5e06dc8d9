import { randomUUID } from 'node:crypto';
import { OPERATOR_VERIFY_PRIORITY } from '../../shared/contracts/jobs.js';
import { SyncError } from '../../shared/errors.js';
import { targetSpec } from '../../shared/targets/index.js';
import { strayOrigin, type WebConnection } from '../../shared/targets/web.js';
import { WorkflowSchema } from '../../shared/targets/web-workflow.js';
import { fieldIssues, invalidInput, parseOrThrow } from '../../shared/validation.js';
import type { Ctx } from '../context.js';
import { loadCredential } from '../credentials/store.js';
import { auditOperator, type OperatorAct } from '../store/audit.js';
import { getTarget } from '../store/targets.js';
import { expireTrials, getTrial, insertTrial, type TrialRow } from './store.js';

/*
 * Login trials, without HTTP (docs/api.md "Login trials"): an operator tries an edited, unsaved web
 * login workflow against the real site with the stored password of one of the target's
 * credentials. The trial is a verify job of that credential on the site's queue under its own id
 * (shared/contracts/jobs.ts trialJobIdFor): an agent of the target's site runs it with the target's
 * connection, its login workflow replaced (trials/handout.ts); the result is stored on the trial
 * only (trials/results.ts), never on the credential.
 */

/**
 * The target's connection with its login workflow replaced by `workflow`, checked whole with the web
 * schema (the target's verify and change workflows may use what the login extracts). Throws
 * VALIDATION_FAILED naming the field under `workflow.`.
 */
export function trialConnection(stored: Record<string, unknown>, workflow: unknown): Record<string, unknown> {
  const login = parseOrThrow(WorkflowSchema, workflow, 'workflow');
  const parsed = targetSpec('web').connectionSchema.safeParse({ ...stored, login });
  if (parsed.success) return parsed.data as Record<string, unknown>;
  throw invalidInput(
    fieldIssues(parsed.error).map((i) => ({
      field: i.field.startsWith('login.')
        ? `workflow.${i.field.slice('login.'.length)}`
        : `workflow (with the target's ${i.field})`,
      message: i.message,
    })),
    'workflow',
  );
}

/**
 * Starts a trial: 202-style, queued. Refused: a target that is not a web target (409), a credential
 * not of this target (400 naming credentialId), sync disabled on it (409), an invalid workflow (400
 * naming the field). Audited (who tried which target with which credential; never a password).
 */
export async function startLoginTrial(
  ctx: Ctx,
  targetId: string,
  input: { workflow: Record<string, unknown>; credentialId: string },
  mayReroute: boolean,
  by: OperatorAct,
): Promise<TrialRow> {
  const target = await getTarget(ctx.db, targetId);
  if (!target) throw new SyncError('NOT_FOUND', `target ${targetId} not found`);
  if (target.kind !== 'web') {
    throw new SyncError(
      'CONFLICT',
      `login trials are for web targets: this target is of kind ${target.kind}`,
    );
  }
  const connection = trialConnection(target.connection, input.workflow);
  // The trial sends the stored password where its workflow says: beyond the target's own addresses
  // (its stored connection's; without its login when that one no longer reads, as a trial is there
  // to fix), that is an admin decision, as editing the target to go there is (operations/targets.ts).
  const web = connection as WebConnection;
  const stored = targetSpec('web').connectionSchema.safeParse(target.connection);
  const own = stored.success ? (stored.data as WebConnection) : { ...web, login: { steps: [] } };
  const stray = strayOrigin(own, web.login.steps);
  if (stray !== undefined && !mayReroute) {
    throw new SyncError(
      'FORBIDDEN',
      `a login trial that sends the password to ${stray === '*' ? 'an address it builds' : stray}, not one of the target's own addresses, needs the admin role`,
    );
  }
  const workflow = connection.login as Record<string, unknown>;
  const cred = await loadCredential(ctx.db, input.credentialId);
  if (!cred || cred.target_id !== target.id) {
    throw new SyncError('VALIDATION_FAILED', 'credentialId: not a credential of this target', {
      issues: [{ field: 'credentialId', message: 'not a credential of this target' }],
    });
  }
  if (!cred.sync_enabled) {
    throw new SyncError('CONFLICT', 'sync is disabled for this credential: enable it to try a login with it');
  }
  const trial = await ctx.db.tx(async (q) => {
    const row = await insertTrial(q, {
      id: randomUUID(),
      target_id: target.id,
      credential_id: cred.id,
      site_id: target.site_id,
      workflow,
      created_by: by.operatorId,
    });
    await auditOperator(q, by, 'target.login_trial', 'target', target.id, {
      trialId: row.id,
      credentialId: cred.id,
      siteId: target.site_id,
    });
    return row;
  });
  // As dispatch does: with Redis unavailable the job is kept and queued once it answers again (the
  // trial times out if it never is); the request is answered all the same.
  await ctx.queues
    .enqueue(target.site_id, [
      { kind: 'verify', credentialId: cred.id, trialId: trial.id, priority: OPERATOR_VERIFY_PRIORITY },
    ])
    .catch((err: unknown) =>
      ctx.log.error(
        { trialId: trial.id, siteId: target.site_id, err: err instanceof Error ? err.message : String(err) },
        'login trial not queued yet; queued once Redis answers',
      ),
    );
  ctx.log.info({ trialId: trial.id, targetId: target.id, credentialId: cred.id }, 'login trial queued');
  return trial;
}

/** A trial of the target (404 else), its timeout applied first. */
export async function readLoginTrial(ctx: Ctx, targetId: string, trialId: string): Promise<TrialRow> {
  await expireTrials(ctx.db, new Date());
  const trial = await getTrial(ctx.db, targetId, trialId);
  if (!trial) throw new SyncError('NOT_FOUND', `login trial ${trialId} of target ${targetId} not found`);
  return trial;
}
