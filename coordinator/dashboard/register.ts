import type { FastifyInstance } from 'fastify';
import type { Ctx } from '../context.js';
import { installStateGauges } from '../state-gauges.js';
import { stateSnapshot } from '../state-snapshot.js';
import { registerDashboardAssets } from './serve.js';

/**
 * The operator surfaces beyond the API: the dashboard (`/`, `/ui/…`) and the scrape-time gauges of
 * GET /metrics. The API routes the dashboard reads (api/overview.ts, api/credential-history.ts) are
 * registered with the others (app.ts).
 */
export function registerOperatorSurfaces(ctx: Ctx, app: FastifyInstance): void {
  registerDashboardAssets(app);
  installStateGauges(ctx.metrics, () => stateSnapshot(ctx));
}
