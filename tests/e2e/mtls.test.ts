/**
 * TLS for the coordinator's listener and mutual TLS for agents, configured by file paths: a real
 * `sync-agent` with a client certificate from the agents' CA works over https; without one, the
 * gateway refuses enrollment and every call, while operators (no client certificate) still work.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { ADMIN_TOKEN, startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import { startAgent, stopAll } from '../support/processes.js';
import { createPki, type Pki } from '../support/tls.js';
import { waitFor } from '../support/wait.js';

let pki: Pki;
let c: InProcessCoordinator;
let caOnly: Agent;

beforeAll(async () => {
  pki = createPki();
  const server = pki.issue('coordinator', 'server');
  c = await startInProcessCoordinator('e2e-mtls', inject('redisUrl'), {
    TLS_CERT_FILE: server.cert,
    TLS_KEY_FILE: server.key,
    TLS_CLIENT_CA_FILE: pki.caCert,
  });
  caOnly = new Agent({ connect: { ca: pki.pem(pki.caCert) } });
}, 60_000);

afterAll(async () => {
  await stopAll();
  await caOnly?.close();
  await c?.close();
  if (pki) rmSync(pki.dir, { recursive: true, force: true });
});

async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown, token = ADMIN_TOKEN) {
  const res = await request(`${c.url}${path}`, {
    method,
    dispatcher: caOnly,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.statusCode, body: (await res.body.json()) as T };
}

it('serves https; agents need a client certificate from the agents CA, operators do not', async () => {
  expect(c.url.startsWith('https://')).toBe(true);
  const site = await call<{ id: string }>('POST', '/api/v1/sites', { name: 'tls-site' });
  expect(site.status).toBe(201);
  const tokenFor = async () =>
    (await call<{ token: string }>('POST', `/api/v1/sites/${site.body.id}/enrollment-tokens`, {})).body.token;

  // Without a client certificate: enrollment refused.
  const enroll = await call<{ error: { code: string; message: string } }>('POST', '/agent/v1/enroll', {
    enrollmentToken: await tokenFor(),
    name: 'no-cert',
    host: 'h',
    version: '1',
    adapters: ['simulated'],
    concurrency: 1,
  });
  expect(enroll.status).toBe(401);
  expect(enroll.body.error.message).toMatch(/client certificate/);

  // A real agent with its certificate: enrolls, and its work gets done.
  const client = pki.issue('agent-1', 'client');
  const stateDir = join(pki.dir, 'agent-state');
  await startAgent(
    {
      COORDINATOR_URL: c.url,
      AGENT_STATE_DIR: stateDir,
      ENROLLMENT_TOKEN: await tokenFor(),
      AGENT_TLS_CA_FILE: pki.caCert,
      AGENT_TLS_CERT_FILE: client.cert,
      AGENT_TLS_KEY_FILE: client.key,
    },
    { label: 'e2e-mtls-agent' },
  );
  const target = await call<{ id: string }>('POST', '/api/v1/targets', {
    siteId: site.body.id,
    name: 'tls-target',
    kind: 'simulated',
    connection: {},
  });
  const cred = await call<{ id: string }>('POST', '/api/v1/credentials', {
    targetId: target.body.id,
    username: 'svc',
    password: 'tls-pw-123',
  });
  await waitFor(
    async () =>
      (await call<{ status: string }>('GET', `/api/v1/credentials/${cred.body.id}`)).body.status ===
      'in_sync',
    {
      timeoutMs: 15_000,
    },
  );

  // The agent's own token, presented without its certificate, is refused.
  const identity = JSON.parse(readFileSync(join(stateDir, 'identity.json'), 'utf8')) as {
    agentToken: string;
  };
  const claim = await call('POST', '/agent/v1/claim', { max: 1, waitMs: 0 }, identity.agentToken);
  expect(claim.status).toBe(401);
}, 60_000);

it('tells browsers to keep to HTTPS (HSTS) when served over TLS', async () => {
  const res = await request(`${c.url}/healthz`, { dispatcher: caOnly });
  await res.body.dump();
  expect(res.headers['strict-transport-security']).toBe('max-age=31536000');
});
