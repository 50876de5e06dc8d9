import type { WebDependency } from '../../shared/contracts/dependencies.js';
import type { Logger } from '../../shared/logger.js';
import { WebConnectionSchema } from '../../shared/targets/web.js';
import { runWorkflows } from '../adapters/web/engine.js';
import type { DependencyLogin, Step } from './types.js';

/*
 * The `web` dependency (docs/adapters/dependencies.md): the login credential's web target signs in
 * with its login workflow (its account's {{username}} and {{password}}), then the dependency's steps
 * run in the same session with {{newPassword}}, on the web adapter's own engine. A check signs in
 * only: the login page answers and the login account gets in.
 */
export async function runWeb(
  d: WebDependency,
  l: DependencyLogin,
  password: string | undefined,
  signal: AbortSignal,
  log: Logger,
): Promise<Step> {
  const connection = WebConnectionSchema.parse(l.target.connection);
  const attempt = await runWorkflows({
    connection,
    workflows:
      password === undefined
        ? [['login', connection.login]]
        : [
            ['login', connection.login],
            ['dependency', { steps: d.steps }],
          ],
    values: {
      username: l.username,
      password: l.password,
      ...(password === undefined ? {} : { newPassword: password }),
    },
    signal,
    log,
  });
  if (attempt.ok) return { ok: true };
  return { ok: false, message: `web as ${l.username}: ${attempt.message ?? attempt.reason}` };
}
