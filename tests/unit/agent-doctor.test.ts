/**
 * sync-agent doctor's checks against real servers on loopback (plain HTTP, HTTPS with a throw-away
 * CA, a port that never answers) and real folders; each problem comes with its fix.
 */
import { randomUUID } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import {
  createServer as createTcpServer,
  type AddressInfo,
  type Server as TcpServer,
  type Socket,
} from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeCoordinator } from '../../agent/doctor/coordinator.js';
import type { Finding } from '../../agent/doctor/finding.js';
import { checkStopTimeout, parseTimeSpan } from '../../agent/doctor/service-unit.js';
import { checkStateDir, currentAccount } from '../../agent/doctor/state-dir.js';
import { checkTools } from '../../agent/doctor/tools.js';
import { freePort } from '../support/ports.js';
import { createPki, type Pki } from '../support/tls.js';

const byCheck = (findings: Finding[], check: string): Finding | undefined =>
  findings.find((f) => f.check === check);

/** A coordinator stand-in: GET /healthz answers {ok: true}, its Date `skewMs` off this clock. */
function healthHandler(skew: { ms: number }) {
  return (req: { url?: string }, res: ServerResponse) => {
    res.setHeader('date', new Date(Date.now() + skew.ms).toUTCString());
    if (req.url === '/healthz') res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    else res.writeHead(404).end('{"error":{"code":"NOT_FOUND","message":"x"}}');
  };
}

const listen = async (server: Server | TcpServer): Promise<number> => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
};

describe('doctor: the coordinator, TLS and the clock', () => {
  const skew = { ms: 0 };
  let pki: Pki;
  let http: Server;
  let https: Server;
  let otherName: Server;
  let silent: TcpServer;
  const ports = { http: 0, https: 0, otherName: 0, silent: 0 };
  const held: Socket[] = [];

  beforeAll(async () => {
    pki = createPki();
    const server = pki.issue('coordinator', 'server');
    const wrong = pki.issue('elsewhere', 'server', 'DNS:other.example');
    http = createHttpServer(healthHandler(skew));
    https = createHttpsServer({ cert: pki.pem(server.cert), key: pki.pem(server.key) }, healthHandler(skew));
    otherName = createHttpsServer(
      { cert: pki.pem(wrong.cert), key: pki.pem(wrong.key) },
      healthHandler(skew),
    );
    // Accepts and never answers; its sockets are ended by hand at the end.
    silent = createTcpServer((socket) => held.push(socket));
    ports.http = await listen(http);
    ports.https = await listen(https);
    ports.otherName = await listen(otherName);
    ports.silent = await listen(silent);
  });
  afterAll(async () => {
    for (const s of [http, https, otherName] as Server[]) s.closeAllConnections();
    for (const socket of held) socket.destroy();
    await Promise.all([http, https, otherName, silent].map((s) => new Promise((r) => s.close(r))));
    rmSync(pki.dir, { recursive: true, force: true });
  });

  it('a coordinator that answers, on loopback http: ok, with the clock within a second', async () => {
    skew.ms = 0;
    const findings = await probeCoordinator({ coordinatorUrl: `http://127.0.0.1:${ports.http}` });
    expect(byCheck(findings, 'coordinator')).toMatchObject({ status: 'ok' });
    expect(byCheck(findings, 'TLS trust')).toMatchObject({ status: 'skip' });
    expect(byCheck(findings, 'clock')).toMatchObject({ status: 'ok' });
  });

  it.each([
    [30_000, 'warn', /this machine is (28|29|30|31) s behind the coordinator/],
    [-10 * 60_000, 'fail', /this machine is (598|599|600|601) s ahead of the coordinator/],
  ])('a clock %i ms off: %s', async (ms, status, detail) => {
    skew.ms = ms;
    const clock = byCheck(
      await probeCoordinator({ coordinatorUrl: `http://127.0.0.1:${ports.http}` }),
      'clock',
    );
    expect(clock).toMatchObject({ status, detail: expect.stringMatching(detail) });
    expect(clock?.fix).toMatch(/timedatectl set-ntp true/);
    skew.ms = 0;
  });

  it('a URL that is not a coordinator, a closed port, a port that never answers: each named with a fix', async () => {
    const wrongPath = byCheck(
      await probeCoordinator({ coordinatorUrl: `http://127.0.0.1:${ports.http}/api/v1` }),
      'coordinator',
    );
    expect(wrongPath).toMatchObject({ status: 'fail', detail: expect.stringMatching(/answered 404/) });
    expect(wrongPath?.fix).toMatch(/without \/api\/v1/);

    const closed = await freePort();
    const refused = byCheck(
      await probeCoordinator({ coordinatorUrl: `http://127.0.0.1:${closed}` }),
      'coordinator',
    );
    expect(refused).toMatchObject({
      status: 'fail',
      detail: `nothing accepts connections at 127.0.0.1:${closed}`,
    });

    const started = Date.now();
    const findings = await probeCoordinator({
      coordinatorUrl: `http://127.0.0.1:${ports.silent}`,
      timeoutMs: 500,
    });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(byCheck(findings, 'coordinator')).toMatchObject({
      status: 'fail',
      detail: `no answer from 127.0.0.1:${ports.silent} within 500 ms`,
    });
    expect(byCheck(findings, 'clock')).toMatchObject({ status: 'skip' });
  });

  it('https with a private CA: untrusted without AGENT_TLS_CA_FILE, verified with it', async () => {
    const url = `https://127.0.0.1:${ports.https}`;
    const untrusted = await probeCoordinator({ coordinatorUrl: url });
    expect(byCheck(untrusted, 'TLS trust')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/not signed by a CA this agent trusts/),
      fix: expect.stringMatching(/set AGENT_TLS_CA_FILE/),
    });
    expect(byCheck(untrusted, 'coordinator')).toMatchObject({ status: 'skip' });

    const trusted = await probeCoordinator({ coordinatorUrl: url, tls: { ca: pki.pem(pki.caCert) } });
    expect(byCheck(trusted, 'coordinator')).toMatchObject({ status: 'ok' });
    // The throw-away CA issues certificates for two days: verified, with a warning to renew.
    expect(byCheck(trusted, 'TLS trust')).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(
        /^certificate of 127\.0\.0\.1 verified by the CA in AGENT_TLS_CA_FILE, but it expires in [12] days?$/,
      ),
      fix: 'renew the coordinator certificate',
    });
  });

  it('a certificate for another name, and the wrong scheme either way', async () => {
    const tls = { ca: pki.pem(pki.caCert) };
    const misnamed = await probeCoordinator({ coordinatorUrl: `https://127.0.0.1:${ports.otherName}`, tls });
    expect(byCheck(misnamed, 'TLS trust')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/does not name 127\.0\.0\.1/),
    });

    const plainToTls = byCheck(
      await probeCoordinator({ coordinatorUrl: `https://127.0.0.1:${ports.http}`, tls }),
      'coordinator',
    );
    expect(plainToTls).toMatchObject({ status: 'fail', detail: expect.stringMatching(/does not speak TLS/) });
    expect(plainToTls?.fix).toMatch(/use http:\/\//);

    const tlsToPlain = byCheck(
      await probeCoordinator({ coordinatorUrl: `http://127.0.0.1:${ports.https}` }),
      'coordinator',
    );
    expect(tlsToPlain).toMatchObject({ status: 'fail' });
    expect(tlsToPlain?.fix).toMatch(/https:\/\//);
  });

  it('a client certificate with the key of another: named before any connection', async () => {
    const a = pki.issue('agent-a', 'client');
    const b = pki.issue('agent-b', 'client');
    const findings = await probeCoordinator({
      coordinatorUrl: `https://127.0.0.1:${ports.https}`,
      tls: { ca: pki.pem(pki.caCert), cert: pki.pem(a.cert), key: pki.pem(b.key) },
    });
    expect(byCheck(findings, 'TLS client certificate')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/AGENT_TLS_CERT_FILE and AGENT_TLS_KEY_FILE do not go together/),
    });
  });
});

describe('doctor: the state folder', () => {
  const root = mkdtempSync(join(tmpdir(), 'doctor-state-'));
  const account = currentAccount();
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const fresh = (mode = 0o700): string => {
    const dir = join(root, randomUUID());
    mkdirSync(dir, { mode });
    chmodSync(dir, mode);
    return dir;
  };
  const identity = JSON.stringify({ agentId: randomUUID(), siteId: randomUUID(), agentToken: 'pwa_secret' });

  it('an enrolled folder of the right account and rights: ok, and writable', async () => {
    const dir = fresh();
    writeFileSync(join(dir, 'identity.json'), identity, { mode: 0o600 });
    const findings = await checkStateDir({ stateDir: dir, account, hasEnrollmentToken: false });
    expect(findings.map((f) => [f.check, f.status])).toEqual([
      ['state folder', 'ok'],
      ['enrolled', 'ok'],
      ['state folder writable', 'ok'],
    ]);
    expect(JSON.stringify(findings)).not.toContain('pwa_secret');
  });

  it('others let in, a credential readable by others, not enrolled, missing: each with its fix', async () => {
    const open = fresh(0o755);
    writeFileSync(join(open, 'identity.json'), identity, { mode: 0o644 });
    const findings = await checkStateDir({ stateDir: open, account, hasEnrollmentToken: false });
    expect(byCheck(findings, 'state folder')).toMatchObject({ status: 'fail', fix: `chmod 700 ${open}` });
    expect(byCheck(findings, 'enrolled')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/mode 0644/),
    });

    const empty = fresh();
    expect(
      byCheck(await checkStateDir({ stateDir: empty, account, hasEnrollmentToken: false }), 'enrolled'),
    ).toMatchObject({
      status: 'fail',
      fix: expect.stringMatching(/^sync-agent enroll --url/),
    });
    expect(
      byCheck(await checkStateDir({ stateDir: empty, account, hasEnrollmentToken: true }), 'enrolled'),
    ).toMatchObject({
      status: 'ok',
    });

    const missing = join(root, 'missing');
    expect(await checkStateDir({ stateDir: missing, account, hasEnrollmentToken: true })).toEqual([
      expect.objectContaining({
        status: 'fail',
        fix: `install -d -o ${account.name} -g ${account.gid} -m 700 ${missing}`,
      }),
    ]);
  });

  it.skipIf(process.getuid?.() !== 0)('a folder of another account (as root): chown', async () => {
    const dir = fresh();
    chownSync(dir, 65534, 65534);
    const folder = byCheck(
      await checkStateDir({ stateDir: dir, account, hasEnrollmentToken: true }),
      'state folder',
    );
    expect(folder).toMatchObject({ status: 'fail', fix: `chown -R ${account.name}: ${dir}` });
    expect(folder?.detail).toMatch(/belongs to uid 65534, the agent runs as/);
  });
});

describe('doctor: tools and the service stop time', () => {
  it('the programs an adapter runs: found, or the Debian package to install', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'doctor-bin-'));
    try {
      writeFileSync(join(bin, 'stdbuf'), '#!/bin/sh\n', { mode: 0o755 });
      const findings = await checkTools(['windows', 'workstation'], [bin], []);
      expect(byCheck(findings, 'tools')).toMatchObject({
        status: 'ok',
        detail: expect.stringMatching(/^workstation: built into the agent/),
      });
      expect(byCheck(findings, 'tool stdbuf')).toMatchObject({
        status: 'ok',
        detail: expect.stringContaining(join(bin, 'stdbuf')),
      });
      expect(byCheck(findings, 'tool rpcclient')).toMatchObject({
        status: 'fail',
        fix: 'apt-get install smbclient',
      });
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it('TimeoutStopSec of the unit and its drop-ins against the shutdown grace', async () => {
    expect(parseTimeSpan('90')).toBe(90_000);
    expect(parseTimeSpan('1min 30s')).toBe(90_000);
    expect(parseTimeSpan('500ms')).toBe(500);
    expect(parseTimeSpan('soon')).toBeUndefined();
    const dir = mkdtempSync(join(tmpdir(), 'doctor-unit-'));
    try {
      expect(await checkStopTimeout(20_000, [dir])).toEqual([]);
      writeFileSync(join(dir, 'sync-agent.service'), '[Service]\nTimeoutStopSec=90\n');
      expect(await checkStopTimeout(20_000, [dir])).toEqual([expect.objectContaining({ status: 'ok' })]);
      const [tooShort] = await checkStopTimeout(120_000, [dir]);
      expect(tooShort).toMatchObject({
        status: 'warn',
        fix: 'systemctl edit sync-agent, and set [Service] TimeoutStopSec=165',
      });
      mkdirSync(join(dir, 'sync-agent.service.d'));
      writeFileSync(join(dir, 'sync-agent.service.d', 'longer.conf'), '[Service]\nTimeoutStopSec=3min\n');
      expect(await checkStopTimeout(120_000, [dir])).toEqual([expect.objectContaining({ status: 'ok' })]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
