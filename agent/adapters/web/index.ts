import type { WebConnection } from '../../../shared/targets/web.js';
import type { Adapter, AdapterContext, Attempt } from '../types.js';
import { runWorkflows } from './engine.js';

/**
 * The `web` adapter: a target's declarative workflows (docs/adapters/web.md) run with undici.
 * verify = login, then the verify workflow when there is one, in one session; change = login with
 * the current password, then the change workflow with {{newPassword}}.
 */
export const webAdapter: Adapter<WebConnection> = {
  kind: 'web',
  verify: (ctx, password) => {
    const c = ctx.connection;
    return runWorkflows({
      connection: c,
      workflows: c.verify
        ? [
            ['login', c.login],
            ['verify', c.verify],
          ]
        : [['login', c.login]],
      values: { username: ctx.username, password },
      signal: ctx.signal,
      log: ctx.log,
    });
  },
  change: async (ctx: AdapterContext<WebConnection>, currentPassword, newPassword): Promise<Attempt> => {
    const c = ctx.connection;
    if (c.change === undefined) {
      return { ok: false, reason: 'error', message: 'the target has no change workflow', definite: true };
    }
    return runWorkflows({
      connection: c,
      workflows: [
        ['login', c.login],
        ['change', c.change],
      ],
      values: { username: ctx.username, password: currentPassword, newPassword },
      signal: ctx.signal,
      log: ctx.log,
    });
  },
};
