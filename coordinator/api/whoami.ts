import { z } from 'zod';
import { RoleSchema } from '../../shared/contracts/api.js';
import type { Ctx } from '../context.js';
import { actorOf } from '../http/actor.js';
import type { Routes } from '../http/routes.js';

/** Who the token is: the dashboard shows only the actions its role may take. */
export function registerWhoamiRoute(_ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'GET',
    url: '/api/v1/whoami',
    summary: "The calling token's operator id and role (the dashboard hides actions the role cannot take)",
    tag: 'tokens',
    auth: 'viewer',
    response: { status: 200, schema: z.object({ id: z.string(), role: RoleSchema }) },
    handler: async (_input, req) => {
      const { id, role } = actorOf(req);
      return { id, role };
    },
  });
}
