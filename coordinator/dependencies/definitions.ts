import type { DependencyDefinition } from '../../shared/contracts/dependencies.js';
import { SyncError, type FieldIssue } from '../../shared/errors.js';
import { ServiceConnectionSchema } from '../../shared/targets/service.js';
import { strayOrigin, WebConnectionSchema, workflowProblems } from '../../shared/targets/web.js';
import { loadCredentials, type CredentialRow } from '../credentials/store.js';
import type { Queryable } from '../store/db.js';
import { chainsBackTo } from './store.js';

/** The target kind a dependency's login credential must be on. */
const LOGIN_TARGET: Record<string, string> = {
  file: 'workstation',
  command: 'workstation',
  service: 'service',
  web: 'web',
};

/**
 * Why a dependency's login credential may not log in for `owner`, if it may not: it must exist, be of
 * the owner's site and be on a target of the kind the dependency needs (an SSH host for `file` and
 * `command`, a database for `service`, a web application for `web`). Checked when dependencies are
 * set (a 400) and at every hand-out.
 */
export function loginProblem(
  owner: Pick<CredentialRow, 'site_id'>,
  kind: string,
  loginId: string,
  login: CredentialRow | undefined,
): string | undefined {
  if (!login) return `login credential ${loginId} does not exist`;
  if (login.site_id !== owner.site_id) return `login credential ${loginId} belongs to another site`;
  const wanted = LOGIN_TARGET[kind];
  if (login.target_kind !== wanted) {
    return `login credential ${loginId} is on a ${login.target_kind} target; a ${kind} dependency needs a ${wanted} one`;
  }
  return undefined;
}

/** The credential ids a list of definitions names (login credentials and chained credentials). */
export const namedCredentials = (definitions: DependencyDefinition[]): string[] => [
  ...new Set(definitions.map((d) => (d.kind === 'credential' ? d.credentialId : d.loginCredentialId))),
];

/**
 * Checks definitions (already parsed by their schema) against the database: the credentials they
 * name, a statement's parameter in its driver's syntax, and a web dependency's {{vars.x}} (extracted by
 * the login credential's login workflow or an earlier step) and origins (the login target's). Throws VALIDATION_FAILED naming
 * `dependencies.<n>.<field>` for each problem.
 */
export async function checkDefinitions(
  q: Queryable,
  owner: CredentialRow,
  definitions: DependencyDefinition[],
): Promise<void> {
  const named = new Map(
    (await loadCredentials(q, namedCredentials(definitions), false)).map((r) => [r.id, r]),
  );
  const cycles = await chainsBackTo(
    q,
    owner.id,
    definitions.flatMap((d) => (d.kind === 'credential' ? [d.credentialId] : [])),
  );
  const issues: FieldIssue[] = [];
  definitions.forEach((d, n) => {
    const at = (field: string, message: string) =>
      issues.push({ field: `dependencies.${n}.${field}`, message });
    if (d.kind === 'credential') {
      const other = named.get(d.credentialId);
      if (d.credentialId === owner.id) at('credentialId', 'a credential cannot depend on itself');
      else if (!other) at('credentialId', `credential ${d.credentialId} does not exist`);
      else if (other.site_id !== owner.site_id)
        at('credentialId', `credential ${d.credentialId} belongs to another site`);
      else if (other.group_id !== null) {
        at(
          'credentialId',
          `credential ${d.credentialId} is a member of a sync group; change the group instead`,
        );
      } else if (cycles.has(d.credentialId)) {
        at(
          'credentialId',
          `credential ${d.credentialId} already passes its password on to this one (directly or through others): a chain may not come back to where it starts`,
        );
      }
      return;
    }
    const login = named.get(d.loginCredentialId);
    const problem = loginProblem(owner, d.kind, d.loginCredentialId, login);
    if (problem !== undefined) return at('loginCredentialId', problem);
    if (d.kind === 'service') {
      const driver = ServiceConnectionSchema.safeParse(login!.target_connection).data?.driver;
      const placeholder = driver === 'postgres' ? /\$1\b/ : /\?/;
      if (!placeholder.test(d.statement)) {
        at(
          'statement',
          `must hold the password's parameter (${driver === 'postgres' ? '$1' : '?'}) for a ${driver} server`,
        );
      }
    }
    if (d.kind === 'web') {
      const connection = WebConnectionSchema.safeParse(login!.target_connection).data;
      const loginVars = connection
        ? workflowProblems(connection.login.steps, false, new Set()).known
        : new Set<string>();
      for (const p of workflowProblems(d.steps, true, loginVars).problems) at(p.path.join('.'), p.message);
      const stray = connection ? strayOrigin(connection, d.steps) : undefined;
      if (stray !== undefined) {
        at(
          'steps',
          stray === '*'
            ? 'a step URL whose origin depends on a placeholder'
            : `a step sends a request to ${stray}, which the login credential's target does not`,
        );
      }
    }
  });
  if (issues.length > 0) {
    throw new SyncError(
      'VALIDATION_FAILED',
      `invalid body: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`,
      {
        issues,
      },
    );
  }
}
