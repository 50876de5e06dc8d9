/**
 * `sync-agent enroll`, `doctor` and `run --config` from the built tree (dist/agent/main.js), with a
 * configuration file of their own, against a coordinator on loopback. The packaged commands are
 * tested in agent-package.test.ts; this covers the refusals that must leave everything as it was.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import { run } from '../support/debian.js';
import { createEnrollmentToken, createSite } from '../support/fixtures.js';
import { REPO_ROOT } from '../support/paths.js';
import { freePort } from '../support/ports.js';
import { launchCommand, stopAll } from '../support/processes.js';

let c: InProcessCoordinator;
let siteId: string;
const dirs: string[] = [];
const main = join(REPO_ROOT, 'dist', 'agent', 'main.js');

beforeAll(async () => {
  c = await startInProcessCoordinator('agent-commands', inject('redisUrl'));
  siteId = (await createSite(c.admin)).id;
});
afterAll(async () => {
  await stopAll();
  await c?.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A folder with a configuration file naming a state folder inside it. */
function setup(): { dir: string; file: string; stateDir: string; original: string } {
  const dir = mkdtempSync(join(tmpdir(), 'agent-commands-'));
  dirs.push(dir);
  const stateDir = join(dir, 'state');
  const file = join(dir, 'agent.env');
  const original = `# test settings\nAGENT_STATE_DIR=${stateDir}\nLOG_LEVEL=warn\n`;
  writeFileSync(file, original, { mode: 0o600 });
  return { dir, file, stateDir, original };
}

const agentCli = (...args: string[]) =>
  run(process.execPath, [main, ...args], { env: { PATH: process.env.PATH }, timeoutMs: 60_000 });

describe('sync-agent enroll, doctor and run --config (built tree)', () => {
  it('enrolls, writes the file, is idempotent for the same coordinator and refuses another', async () => {
    const { file, stateDir } = setup();
    const token = await createEnrollmentToken(c.admin, siteId);
    const res = await agentCli('enroll', '--config', file, '--url', c.url, '--token', token);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^Enrolled as agent [0-9a-f-]{36} of site /m);
    expect(res.stdout).toContain(`sync-agent run --config ${file}`);
    expect(readFileSync(file, 'utf8')).toBe(
      `# test settings\nAGENT_STATE_DIR=${stateDir}\nLOG_LEVEL=warn\nCOORDINATOR_URL=${c.url}\n`,
    );
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(stateDir, 'identity.json')).mode & 0o777).toBe(0o600);

    const same = await agentCli('enroll', '--config', file, '--url', c.url, '--token', token);
    expect([same.code, same.stdout]).toEqual([
      0,
      expect.stringMatching(/^Already enrolled as agent .*nothing changed/),
    ]);
    // The same address written with a trailing slash is the same coordinator.
    const slash = await agentCli('enroll', '--config', file, '--url', `${c.url}/`, '--token', token);
    expect([slash.code, slash.stdout]).toEqual([0, expect.stringMatching(/^Already enrolled as agent /)]);
    const other = `http://127.0.0.1:${await freePort()}`;
    const moved = await agentCli('enroll', '--config', file, '--url', other, '--token', token);
    expect(moved.code).toBe(1);
    expect(moved.stderr).toMatch(
      new RegExp(`already enrolled as agent .* with ${c.url}; the token was not used`),
    );
    expect(readFileSync(file, 'utf8')).toContain(`COORDINATOR_URL=${c.url}\n`);

    const doctor = await agentCli('doctor', '--config', file);
    expect(doctor.code, doctor.stdout).toBe(0);
    expect(doctor.stdout).toMatch(/^ok +enrolled +agent /m);
    expect(doctor.stdout).toContain('No problem found');

    const agent = launchCommand(process.execPath, [main, 'run', '--config', file], {
      env: { PATH: process.env.PATH, LOG_LEVEL: 'info' },
      label: 'agent-commands-run',
    });
    // The file's LOG_LEVEL=warn wins over the environment's info: no 'agent ready' (info) line,
    // but the agent runs (it shows online).
    await expect
      .poll(
        async () =>
          (
            (await c.admin.get(`/agents?siteId=${siteId}`)).body as { items: { online: boolean }[] }
          ).items.some((a) => a.online),
        {
          timeout: 15_000,
        },
      )
      .toBe(true);
    agent.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    expect(agent.logs().some((l) => l.includes('"level":30'))).toBe(false);
  });

  it.each([
    [
      'a token of the wrong form',
      (url: string) => ['--url', url, '--token', 'not-a-token'],
      /ENROLLMENT_TOKEN: not an enrollment token/,
    ],
    [
      'a token the coordinator does not know',
      (url: string) => ['--url', url, '--token', `pwe_${'x'.repeat(43)}`],
      /ENROLLMENT_TOKEN: rejected by the coordinator/,
    ],
    [
      'a URL that is not one',
      () => ['--url', 'sync.example.com', '--token', `pwe_${'x'.repeat(43)}`],
      /COORDINATOR_URL: expected a URL/,
    ],
  ])('%s: exit 1 naming it, nothing written', async (_name, args, message) => {
    const { file, stateDir, original } = setup();
    const res = await agentCli('enroll', '--config', file, ...args(c.url));
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(message);
    expect(readFileSync(file, 'utf8')).toBe(original);
    expect(statSync(join(stateDir, 'identity.json'), { throwIfNoEntry: false })).toBeUndefined();
  });

  it('a coordinator that cannot be reached: what is wrong and how to fix it, nothing written', async () => {
    const { file, original } = setup();
    const port = await freePort();
    const res = await agentCli(
      'enroll',
      '--config',
      file,
      '--url',
      `http://127.0.0.1:${port}`,
      '--token',
      `pwe_${'y'.repeat(43)}`,
      '--timeout',
      '2',
    );
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(
      new RegExp(`^FAIL +coordinator +nothing accepts connections at 127\\.0\\.0\\.1:${port}$`, 'm'),
    );
    expect(res.stdout).toMatch(/fix: check COORDINATOR_URL/);
    expect(res.stderr).toContain('nothing was written');
    expect(readFileSync(file, 'utf8')).toBe(original);
  });

  it('a coordinator that starts listening a moment later: tried again until --timeout, then enrolled', async () => {
    const { file } = setup();
    const token = await createEnrollmentToken(c.admin, siteId);
    const port = await freePort();
    const target = new URL(c.url);
    // The coordinator "starts" 2 s after enroll: a relay to it opens on the port enroll was given.
    const relay = net.createServer((client) => {
      const upstream = net.connect(Number(target.port), target.hostname);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.pipe(upstream).pipe(client);
    });
    const opening = setTimeout(() => relay.listen(port, '127.0.0.1'), 2_000);
    try {
      const args = ['--config', file, '--url', `http://127.0.0.1:${port}`, '--token', token];
      const res = await agentCli('enroll', ...args, '--timeout', '30');
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toContain('trying again (--timeout)');
      expect(res.stdout).toMatch(/Enrolled as agent [0-9a-f-]{36}/);
    } finally {
      clearTimeout(opening);
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    }
  });

  it('doctor on a configuration without a coordinator: exit 1, the setting named', async () => {
    const { file } = setup();
    const res = await agentCli('doctor', '--config', file);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/^FAIL +configuration +COORDINATOR_URL: /m);
  });
});
