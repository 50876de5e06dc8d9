import { defineConfig } from 'vitest/config';

/**
 * The API test files run a second time with in-process coordinators on the embedded database
 * (PGlite, what `npm run demo` and a coordinator without DATABASE_URL use): every route of the route
 * table (api-reads: every GET, audit-coverage: every write) and the flows the demo, the dashboard
 * and syncctl use, on both databases (tests/support/coordinator.ts reads the project's `database`).
 */
const API_FILES = [
  'admin-api',
  'agent-disabled',
  'alerts',
  'api-reads',
  'api-validation',
  'audit-coverage',
  'credentials-batch',
  'credentials-bulk',
  'dependencies-api',
  'groups-sync',
  'overview',
  'paging',
  'policies-api',
  'sync-run-finish',
].map((name) => `tests/integration/${name}.test.ts`);
/** Runs both drivers itself; in the `pglite` project for the embedded database its global setup prepares. */
const DRIVERS = 'tests/integration/db-drivers.test.ts';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    globalSetup: ['tests/support/global-setup.ts'],
    projects: [
      { extends: true, test: { name: 'postgres', include: ['tests/**/*.test.ts'], exclude: [DRIVERS] } },
      {
        extends: true,
        test: { name: 'pglite', include: [...API_FILES, DRIVERS], provide: { database: 'pglite' } },
      },
    ],
  },
});
