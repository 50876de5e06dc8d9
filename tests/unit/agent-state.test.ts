import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadOrEnroll } from '../../agent/enrollment.js';
import { GatewayClient } from '../../agent/gateway.js';
import { JsonHttpClient } from '../../agent/http.js';
import { ensureStateDir, identityPath, readIdentity, writeIdentity } from '../../agent/state.js';
import { SyncError } from '../../shared/errors.js';

const log = pino({ level: 'silent' });
const identity = {
  agentId: '6b3f1f5e-9d7c-4c1a-9a43-0c8f0b7b1e11',
  siteId: '0f8e2c4a-1b2d-4e5f-8a9b-7c6d5e4f3a21',
  agentToken: 'agent-token-secret',
};

let root: string;
let stateDir: string;
let server: Server | undefined;
beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'agent-state-'));
  stateDir = path.join(root, 'nested', 'state');
});
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
  await rm(root, { recursive: true, force: true });
});

async function gateway(status: number, body: unknown, seen: unknown[] = []): Promise<GatewayClient> {
  server = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      seen.push({ url: req.url, body: JSON.parse(text) as unknown });
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return new GatewayClient(new JsonHttpClient(url, 'test'));
}

const enrollInput = (client: GatewayClient, enrollmentToken?: string) => ({
  config: { stateDir, enrollmentToken, name: 'agent-a', concurrency: 7 },
  client,
  adapters: ['simulated'],
  version: '1.2.3',
  log,
  signal: new AbortController().signal,
});

describe('agent state', () => {
  it('writes identity.json 0600 in a 0700 folder, atomically, and reads it back', async () => {
    await writeIdentity(stateDir, identity);
    expect((await stat(stateDir)).mode & 0o777).toBe(0o700);
    expect((await stat(identityPath(stateDir))).mode & 0o777).toBe(0o600);
    expect(await readIdentity(stateDir)).toEqual(identity);
    await writeIdentity(stateDir, { ...identity, agentToken: 'rotated' });
    expect(await readIdentity(stateDir)).toMatchObject({ agentToken: 'rotated' });
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(stateDir)).toEqual(['identity.json']);
  });

  it('no identity yet: null; a broken one: an error naming AGENT_STATE_DIR, not the content', async () => {
    expect(await readIdentity(stateDir)).toBeNull();
    await writeIdentity(stateDir, identity);
    await writeFile(identityPath(stateDir), '{"agentToken": "leak-me"}');
    const err = await readIdentity(stateDir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncError);
    expect((err as Error).message).toContain('AGENT_STATE_DIR');
    expect((err as Error).message).not.toContain('leak-me');
  });

  it('a state folder that cannot be made is an error naming AGENT_STATE_DIR (it was a bare ENOTDIR)', async () => {
    const file = path.join(root, 'a-file');
    await writeFile(file, 'x');
    const err = await ensureStateDir(path.join(file, 'state')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncError);
    expect((err as Error).message).toBe(
      `AGENT_STATE_DIR: cannot create or use ${path.join(file, 'state')} (ENOTDIR)`,
    );
  });
});

describe('enrollment', () => {
  it('first start without ENROLLMENT_TOKEN: a clear error naming the variable', async () => {
    const client = await gateway(500, {});
    const err = await loadOrEnroll(enrollInput(client)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncError);
    expect((err as Error).message).toMatch(/^ENROLLMENT_TOKEN: required on the first start/);
  });

  it('enrolls with the token, saves the identity, and uses it on the next start', async () => {
    const seen: unknown[] = [];
    const client = await gateway(201, { ...identity, state: 'active' }, seen);
    expect(await loadOrEnroll(enrollInput(client, 'enroll-token-0123'))).toEqual({
      ...identity,
      state: 'active',
    });
    expect(seen).toEqual([
      {
        url: '/agent/v1/enroll',
        body: {
          enrollmentToken: 'enroll-token-0123',
          name: 'agent-a',
          host: os.hostname(),
          version: '1.2.3',
          adapters: ['simulated'],
          concurrency: 7,
        },
      },
    ]);
    expect(JSON.parse(await readFile(identityPath(stateDir), 'utf8'))).toEqual(identity);
    expect((await stat(identityPath(stateDir))).mode & 0o777).toBe(0o600);
    // Next start: no call, token ignored.
    expect(await loadOrEnroll(enrollInput(client, 'enroll-token-0123'))).toEqual(identity);
    expect(seen).toHaveLength(1);
  });

  it('a token refused after an attempt got no answer says the lost attempt may have used it', async () => {
    let calls = 0;
    server = createServer((req, res) => {
      req.resume();
      // The first attempt is taken (the token used) but its answer never comes; then: used.
      if (++calls === 1) return;
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'ENROLLMENT_INVALID', message: 'used' } }));
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const client = new GatewayClient(new JsonHttpClient(`http://127.0.0.1:${port}`, 'test'));
    const err = await loadOrEnroll({
      ...enrollInput(client, 'enroll-token-0123'),
      attemptTimeoutMs: 300,
    }).catch((e: unknown) => e);
    expect(calls).toBe(2);
    expect(err).toMatchObject({ code: 'ENROLLMENT_INVALID' });
    expect((err as Error).message).toContain(
      'an earlier attempt got no answer within 0.3 s and may have used it',
    );
  });

  it('a rejected enrollment token is an error naming ENROLLMENT_TOKEN', async () => {
    const client = await gateway(401, { error: { code: 'ENROLLMENT_INVALID', message: 'expired' } });
    const err = await loadOrEnroll(enrollInput(client, 'enroll-token-0123')).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ENROLLMENT_INVALID' });
    expect((err as Error).message).toContain('ENROLLMENT_TOKEN');
    expect(await readIdentity(stateDir)).toBeNull();
  });
});
