import {
  AGENT_DEPENDENCY_KINDS,
  type ClaimedDependency,
  type DependencyDefinition,
} from '../../shared/contracts/dependencies.js';
import type { JobKind } from '../../shared/contracts/jobs.js';
import { targetSpec } from '../../shared/targets/index.js';
import type { Ctx } from '../context.js';
import { loadCredentials, type CredentialRow } from '../credentials/store.js';
import type { AgentRow } from '../store/agents.js';
import type { AuditEvent } from '../store/audit.js';
import type { Queryable } from '../store/db.js';
import { loginProblem } from './definitions.js';
import { loadDependencies, type DependencyRow } from './store.js';

/** A job being handed out: its kind and its credential. */
export interface HandedJob {
  jobId: string;
  kind: JobKind;
  row: CredentialRow;
}

/**
 * The dependencies an agent runs with the jobs of a claim (docs/adapters/dependencies.md): with a
 * change or reconcile, every one of the kinds an agent runs (checked before the change, pushed once
 * the new password works); with a verification, only the ones an operator asked to check or push.
 * Each goes with its login account's username and password and the target it is on, or with the
 * problem that keeps it from running. Returns them per job id, and the audit events of the login
 * passwords handed out (one per hand-out, against the login credential).
 */
export async function dependenciesForClaim(
  ctx: Ctx,
  q: Queryable,
  agent: Pick<AgentRow, 'id' | 'site_id'>,
  jobs: HandedJob[],
): Promise<{ byJob: Map<string, ClaimedDependency[]>; audits: AuditEvent[] }> {
  const byJob = new Map<string, ClaimedDependency[]>();
  const audits: AuditEvent[] = [];
  const changes = jobs.filter((j) => j.kind !== 'verify').map((j) => j.row.id);
  const verifies = jobs.filter((j) => j.kind === 'verify').map((j) => j.row.id);
  const rows = [
    ...(await loadDependencies(q, changes)),
    ...(await loadDependencies(q, verifies, true)),
  ].filter((d) => AGENT_DEPENDENCY_KINDS.has(d.kind));
  if (rows.length === 0) return { byJob, audits };
  const logins = new Map(
    (await loadCredentials(q, [...new Set(rows.map((d) => loginIdOf(d.definition)))], false)).map((r) => [
      r.id,
      r,
    ]),
  );
  for (const job of jobs) {
    const own = rows.filter((d) => d.credential_id === job.row.id);
    if (own.length === 0) continue;
    const handed = own.map((d) => {
      const claimed = toClaimed(ctx, job, d, logins);
      if (claimed.login) {
        audits.push({
          actorType: 'agent',
          actorId: agent.id,
          action: 'secret.handout',
          objectType: 'credential',
          objectId: loginIdOf(d.definition),
          details: { siteId: agent.site_id, jobId: job.jobId, kind: job.kind, dependencyFor: job.row.id },
        });
      }
      return claimed;
    });
    byJob.set(job.jobId, handed);
  }
  return { byJob, audits };
}

const loginIdOf = (d: DependencyDefinition): string =>
  d.kind === 'credential' ? d.credentialId : d.loginCredentialId;

function toClaimed(
  ctx: Ctx,
  job: HandedJob,
  d: DependencyRow,
  logins: Map<string, CredentialRow>,
): ClaimedDependency {
  const mode = job.kind === 'verify' ? (d.requested ?? 'check') : 'push';
  const base = { id: d.id, mode, definition: d.definition };
  const loginId = loginIdOf(d.definition);
  const login = logins.get(loginId);
  const problem = loginProblem(job.row, d.kind, loginId, login);
  if (problem !== undefined) return { ...base, problem };
  try {
    const spec = targetSpec(login!.target_kind);
    return {
      ...base,
      login: {
        username: login!.username,
        password: ctx.box.open(login!.secret, login!.id, 'secret'),
        target: {
          kind: login!.target_kind,
          connection: spec.connectionSchema.parse(login!.target_connection) as Record<string, unknown>,
        },
      },
    };
  } catch {
    return { ...base, problem: `the password of login credential ${loginId} cannot be read` };
  }
}
