import type { FastifyInstance } from 'fastify';
import { registerCredentialHistoryRoutes } from '../api/credential-history.js';
import { registerOverviewRoutes } from '../api/overview.js';
import type { Ctx } from '../context.js';
import type { Routes } from '../http/routes.js';
import { installStateGauges } from '../metrics.js';
import { stateSnapshot } from '../state-snapshot.js';
import { registerDashboardAssets } from './serve.js';

/**
 * The operator surfaces beyond the core API: the dashboard (`/`, `/ui/…`), the API routes it reads
 * (overview, status history), and the scrape-time gauges of GET /metrics.
 */
export function registerOperatorSurfaces(ctx: Ctx, app: FastifyInstance, routes: Routes): void {
  registerDashboardAssets(app);
  registerOverviewRoutes(ctx, routes);
  registerCredentialHistoryRoutes(ctx, routes);
  installStateGauges(ctx.metrics, () => stateSnapshot(ctx));
}
