/**
 * The Debian package of the agent, installed on this machine as a package (dpkg -i), not run from
 * the tree: its layout and rights, bad settings, enroll and doctor, the service's command line run
 * as the service account (there is no systemd here: what systemd would do is done by hand, from the
 * installed unit), a credential verified, an upgrade to a second build with jobs in flight (none
 * lost), and purge. Needs root and dpkg; the package and the sync-agent account are removed
 * afterwards, even on failure. One such test runs on the machine at a time (a lock).
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { chmod, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { VERSION } from '../../shared/version.js';
import { ADMIN_TOKEN, newMasterKey } from '../support/coordinator.js';
import {
  buildPackage,
  dpkg,
  isInstalled,
  lockMachine,
  packageTestsUnavailable,
  readUnit,
  removePackageAndAccount,
  run,
  runServiceOnce,
  serviceEnv,
  startService,
  UNIT_FILE,
  type ServiceUnit,
} from '../support/debian.js';
import {
  createCredential,
  createCredentials,
  createEnrollmentToken,
  createSite,
  createTarget,
  getCredential,
  waitForValue,
} from '../support/fixtures.js';
import { api, type ApiClient } from '../support/http.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import {
  startCoordinator,
  stopAll,
  type CoordinatorProcess,
  type ManagedProcess,
} from '../support/processes.js';
import { uniquePrefix } from '../support/redis.js';
import { createPki } from '../support/tls.js';
import { waitFor } from '../support/wait.js';

const unavailable = packageTestsUnavailable();
/** The first build: a prerelease of this version, so the second (this version) is an upgrade. */
const V1 = `${VERSION}-rc.1`;
const V2 = VERSION;
const STATE_DIR = '/var/lib/sync-agent';
const CONFIG = '/etc/sync-agent/agent.env';

let unlock: (() => void) | undefined;
let workDir: string;
let debs: { v1: string; v2: string };
let database: TestDatabase;
let coordinator: CoordinatorProcess;
let admin: ApiClient;
let siteId: string;

/** The installed /usr/bin/sync-agent as root, with a plain environment. */
const syncAgentCli = (...args: string[]) => run('/usr/bin/sync-agent', args, { timeoutMs: 60_000 });

interface AgentItem {
  id: string;
  version: string;
  versionStatus: string;
}
const agentsOfSite = async () =>
  ((await admin.get(`/agents?siteId=${siteId}`)).body as { items: AgentItem[] }).items;

const modeOf = async (file: string) => (await stat(file)).mode & 0o777;

describe.skipIf(unavailable !== undefined)(
  unavailable ? `agent Debian package (skipped: ${unavailable})` : 'agent Debian package',
  () => {
    let unit: ServiceUnit;
    let agent: ManagedProcess | undefined;

    beforeAll(async () => {
      unlock = await lockMachine();
      // A run killed before its clean-up may have left the package: this test owns it now.
      await removePackageAndAccount();
      workDir = mkdtempSync(join(tmpdir(), 'agent-package-'));
      const [v1, v2] = await Promise.all([buildPackage(V1, workDir), buildPackage(V2, workDir)]);
      debs = { v1: v1!, v2: v2! };
      database = await createTestDatabase('e2e-agent-package');
      coordinator = await startCoordinator(
        {
          DATABASE_URL: database.url,
          REDIS_URL: inject('redisUrl'),
          QUEUE_PREFIX: uniquePrefix('e2e-agent-package'),
          COORDINATOR_ADMIN_TOKEN: ADMIN_TOKEN,
          COORDINATOR_MASTER_KEY: newMasterKey(),
          HEARTBEAT_EVERY_MS: '1000',
          // The first build is a prerelease: supported, with an update available.
          AGENT_MIN_VERSION: V1,
          // Long locks and a slow stalled check: jobs that come back quickly were handed back.
          JOB_LOCK_MS: '60000',
          STALLED_CHECK_MS: '30000',
        },
        { label: 'e2e-agent-package-coordinator' },
      );
      admin = api(`${coordinator.url}/api/v1`, ADMIN_TOKEN);
      siteId = (await createSite(admin, 'e2e-agent-package-site')).id;
    }, 600_000);

    afterAll(async () => {
      await stopAll();
      await removePackageAndAccount();
      await database?.drop();
      if (workDir) rmSync(workDir, { recursive: true, force: true });
      unlock?.();
    }, 120_000);

    it('installs as a package: an account without a shell, a 0700 state folder, a 0600 conffile, a hardened unit', async () => {
      expect(debs.v1).toMatch(/sync-agent_.*~rc\.1_all\.deb$/);
      const info = await run('dpkg-deb', ['--field', debs.v1, 'Depends', 'Architecture']);
      expect(info.stdout).toContain('Depends: nodejs (>= 20.11)');
      expect(info.stdout).toContain('Architecture: all');
      await dpkg('-i', debs.v1);
      expect(await isInstalled()).toBe(true);

      const account = (await run('getent', ['passwd', 'sync-agent'])).stdout.trim().split(':');
      expect(account[5]).toBe(STATE_DIR);
      expect(account[6]).toBe('/usr/sbin/nologin');
      expect(Number(account[2])).toBeLessThan(1000);
      const state = await stat(STATE_DIR);
      expect(state.isDirectory()).toBe(true);
      expect(state.uid).toBe(Number(account[2]));
      expect(state.mode & 0o777).toBe(0o700);
      const config = await stat(CONFIG);
      expect([config.uid, config.mode & 0o777]).toEqual([0, 0o600]);
      expect((await run('dpkg-query', ['-W', '-f=${Conffiles}', 'sync-agent'])).stdout).toContain(CONFIG);

      const files = (await run('dpkg', ['-L', 'sync-agent'])).stdout.split('\n');
      for (const file of [UNIT_FILE, '/usr/bin/sync-agent', '/usr/lib/sync-agent/dist/agent/main.js']) {
        expect(files).toContain(file);
      }
      // Only what the agent runs: no coordinator, no development tools, no native code.
      const modules = new Set(
        files
          .map((f) => /^\/usr\/lib\/sync-agent\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f)?.[1])
          .filter(Boolean),
      );
      for (const runtime of ['zod', 'undici', 'pino', 'ssh2', 'mysql2', 'pg'])
        expect(modules).toContain(runtime);
      for (const notNeeded of [
        'fastify',
        'bullmq',
        'ioredis',
        '@electric-sql/pglite',
        'typescript',
        'vitest',
        'cpu-features',
      ])
        expect(modules).not.toContain(notNeeded);
      expect(files.some((f) => f.includes('/dist/coordinator/') || f.endsWith('.node'))).toBe(false);

      unit = readUnit();
      expect(unit.user).toBe('sync-agent');
      const verify = await run('systemd-analyze', ['verify', UNIT_FILE]);
      expect(verify.stderr.trim()).toBe('');
      expect(verify.code).toBe(0);
      expect((await syncAgentCli('version')).stdout.trim()).toBe(V1);
    });

    it('bad settings stop the installed agent, run as its account, with a message naming the setting', async () => {
      const url = coordinator.url;
      // As installed: COORDINATOR_URL is not set yet.
      let res = await runServiceOnce(unit, serviceEnv(unit));
      expect(res.code).toBe(1);
      expect(res.stderr).toContain('COORDINATOR_URL');

      res = await runServiceOnce(
        unit,
        serviceEnv(unit, { COORDINATOR_URL: url, ENROLLMENT_TOKEN: 'Bearer 12345678901' }),
      );
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/ENROLLMENT_TOKEN: not an enrollment token/);
      expect(res.stderr).not.toContain('12345678901');

      // A CA file only root may read: the service account cannot.
      const pki = createPki();
      const caFile = '/etc/sync-agent/ca.pem';
      writeFileSync(caFile, readFileSync(pki.caCert), { mode: 0o600 });
      res = await runServiceOnce(unit, serviceEnv(unit, { COORDINATOR_URL: url, AGENT_TLS_CA_FILE: caFile }));
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(
        /AGENT_TLS_CA_FILE: cannot read the file it names, \/etc\/sync-agent\/ca\.pem \(permission denied/,
      );
      rmSync(caFile);
      rmSync(pki.dir, { recursive: true, force: true });
      // None of these left anything in the state folder.
      expect((await run('ls', ['-A', STATE_DIR])).stdout.trim()).toBe('');
    });

    it('sync-agent enroll writes the configuration, enrolls once and says what to start; doctor checks the installation', async () => {
      const token = await createEnrollmentToken(admin, siteId);
      const enrolled = await syncAgentCli(
        'enroll',
        '--url',
        coordinator.url,
        '--token',
        token,
        '--name',
        'packaged-agent',
      );
      expect(enrolled.code, enrolled.stderr).toBe(0);
      expect(enrolled.stdout).toMatch(/^Enrolled as agent [0-9a-f-]{36} of site /m);
      expect(enrolled.stdout).toContain('systemctl enable --now sync-agent');
      expect(enrolled.stdout + enrolled.stderr).not.toContain(token);
      const config = readFileSync(CONFIG, 'utf8');
      expect(config).toContain(`\nCOORDINATOR_URL=${coordinator.url}\n`);
      expect(config).toContain('\nAGENT_NAME=packaged-agent\n');
      expect(config).not.toContain(token);
      expect(await modeOf(CONFIG)).toBe(0o600);
      const identityFile = join(STATE_DIR, 'identity.json');
      const identity = JSON.parse(readFileSync(identityFile, 'utf8')) as { agentToken: string };
      expect(statSync(identityFile).uid).toBe(statSync(STATE_DIR).uid);
      expect(await modeOf(identityFile)).toBe(0o600);

      const again = await syncAgentCli('enroll', '--url', coordinator.url, '--token', token);
      expect(again.code).toBe(0);
      expect(again.stdout).toMatch(/Already enrolled as agent .*the token was not used/);

      const doctor = await syncAgentCli('doctor');
      expect(doctor.code, doctor.stdout).toBe(0);
      for (const line of [
        /^ok +coordinator +http:\/\/127\.0\.0\.1:\d+ answered/m,
        /^ok +state folder +\/var\/lib\/sync-agent: sync-agent's, mode 0700/m,
        /^ok +enrolled +agent /m,
        /^ok +clock /m,
        /^ok +service stop time +TimeoutStopSec=90/m,
      ]) {
        expect(doctor.stdout).toMatch(line);
      }
      expect(doctor.stdout).not.toContain(identity.agentToken);

      await chmod(STATE_DIR, 0o755);
      try {
        const broken = await syncAgentCli('doctor');
        expect(broken.code).toBe(1);
        expect(broken.stdout).toMatch(
          /^FAIL +state folder +\/var\/lib\/sync-agent: mode 0755 lets other users in$/m,
        );
        expect(broken.stdout).toMatch(/fix: chmod 700 \/var\/lib\/sync-agent$/m);
        expect(broken.stdout).toContain('1 problem found');
      } finally {
        await chmod(STATE_DIR, 0o700);
      }
    });

    it('the service command line, run as the service account, verifies a credential; an upgrade with jobs in flight loses none', async () => {
      // Short grace: on the upgrade's restart the jobs in flight are handed back, not finished; and
      // all six run at once on their one simulated host.
      writeFileSync(
        CONFIG,
        `${readFileSync(CONFIG, 'utf8')}AGENT_SHUTDOWN_GRACE_MS=1000\nAGENT_PER_HOST_LIMIT=10\n`,
      );
      agent = await startService(unit, serviceEnv(unit), 'e2e-agent-package-v1');
      const quick = await createCredential(admin, await createTarget(admin, siteId));
      await waitFor(async () => (await getCredential(admin, quick.id)).status === 'in_sync', {
        timeoutMs: 20_000,
        message: 'a credential verified by the packaged agent',
      });
      const [before] = await agentsOfSite();
      expect(before).toMatchObject({ version: V1, versionStatus: 'update_available' });

      // Jobs that outlast the upgrade (dpkg -i takes seconds on a busy machine).
      const slow = await createCredentials(
        admin,
        await createTarget(admin, siteId, { latencyMs: 20_000 }),
        6,
      );
      await waitFor(
        async () => {
          const views = await Promise.all(slow.map((c) => getCredential(admin, c.id)));
          return views.every((v) => v.status === 'being_synced');
        },
        { timeoutMs: 20_000, message: 'six jobs in flight on the packaged agent' },
      );

      // The upgrade replaces the files under the running agent...
      const upgrading = Date.now();
      await dpkg('-i', debs.v2);
      const upgradeMs = Date.now() - upgrading;
      expect((await syncAgentCli('version')).stdout.trim()).toBe(V2);
      expect(readFileSync(CONFIG, 'utf8')).toContain(`COORDINATOR_URL=${coordinator.url}`);
      expect(await modeOf(CONFIG)).toBe(0o600);
      expect(agent.logs().some((l) => l.includes('"level":50'))).toBe(false);
      // ...then postinst's try-restart: SIGTERM (TimeoutStopSec to stop), and the new ExecStart.
      const stopping = Date.now();
      agent.kill('SIGTERM');
      expect(await agent.exited).toBe(0);
      expect(Date.now() - stopping).toBeLessThan(unit.timeoutStopMs);
      const released = agent.logs().find((l) => l.includes('unfinished jobs released'));
      expect(released, `dpkg -i took ${upgradeMs} ms`).toBeDefined();
      expect((JSON.parse(released!) as { released: number }).released).toBe(6);

      agent = await startService(unit, serviceEnv(unit), 'e2e-agent-package-v2');
      const done = await waitForValue(
        async () => {
          const views = await Promise.all(slow.map((c) => getCredential(admin, c.id)));
          return views.every((v) => v.status === 'in_sync') && views;
        },
        { timeoutMs: 60_000, message: 'the six handed-back jobs done by the upgraded agent' },
      );
      for (const view of done) {
        expect(view.statusReason).toBeNull();
        expect(view.lastVerifiedAt).not.toBeNull();
      }
      // Same identity, new version, up to date.
      const after = await agentsOfSite();
      expect(after).toHaveLength(1);
      expect(after[0]).toMatchObject({ id: before!.id, version: V2, versionStatus: 'up_to_date' });
      agent.kill('SIGTERM');
      expect(await agent.exited).toBe(0);
      agent = undefined;
    });

    it('purge removes the agent, its configuration, its credential and its unit; the account stays until deluser', async () => {
      await dpkg('--purge', 'sync-agent');
      expect(await isInstalled()).toBe(false);
      for (const gone of [
        '/usr/lib/sync-agent',
        '/usr/bin/sync-agent',
        UNIT_FILE,
        '/etc/sync-agent',
        STATE_DIR,
      ]) {
        expect(statSync(gone, { throwIfNoEntry: false }), gone).toBeUndefined();
      }
      expect((await run('getent', ['passwd', 'sync-agent'])).code).toBe(0);
    });
  },
);
