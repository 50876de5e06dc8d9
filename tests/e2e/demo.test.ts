/**
 * The README's first command: `npm run demo` on embedded defaults (PGlite, a local redis-server
 * child, agents) shows credentials in every status. Run with --exit so it stops once settled.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { STATUSES } from '../../shared/contracts/status.js';
import { REPO_ROOT } from '../support/paths.js';
import { freePort } from '../support/ports.js';

const run = promisify(execFile);

it('npm run demo shows credentials in all eight statuses, on PGlite and its own Redis', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'demo-'));
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, PORT: String(await freePort()) };
    delete env.REDIS_URL;
    delete env.DATABASE_URL;
    const { stdout } = await run(process.execPath, [join(REPO_ROOT, 'dist/demo/main.js'), '--exit'], {
      env,
      timeout: 110_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    for (const status of STATUSES) expect(stdout, status).toMatch(new RegExp(`\\| ${status}\\s+\\|`));
    expect(stdout).toContain('Authorization: Bearer');
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 120_000);
