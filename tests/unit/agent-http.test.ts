import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { GatewayClient } from '../../agent/gateway.js';
import { GatewayHttpError, GatewayNetworkError, isTransient, JsonHttpClient } from '../../agent/http.js';

type Handler = (req: IncomingMessage, body: string) => [number, string] | Promise<[number, string]>;

const servers: Server[] = [];
async function serve(handler: Handler): Promise<string> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      void Promise.resolve(handler(req, body)).then(([status, text]) =>
        res.writeHead(status, { 'content-type': 'application/json' }).end(text),
      );
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

const heartbeatBody = JSON.stringify({
  agentId: '6b3f1f5e-9d7c-4c1a-9a43-0c8f0b7b1e11',
  siteId: '0f8e2c4a-1b2d-4e5f-8a9b-7c6d5e4f3a21',
  state: 'active',
  serverTime: new Date().toISOString(),
  lockMs: 30_000,
  extendEveryMs: 10_000,
  heartbeatEveryMs: 15_000,
});

describe('gateway client', () => {
  it('posts JSON with the bearer token under the URL base path and parses the answer', async () => {
    let seen: { url?: string; auth?: string; body?: unknown } = {};
    const url = await serve((req, body) => {
      seen = { url: req.url, auth: req.headers.authorization, body: JSON.parse(body) };
      return [200, heartbeatBody];
    });
    const client = new GatewayClient(new JsonHttpClient(`${url}/base/`, 'test'));
    client.setAgentToken('agent-token-1');
    const res = await client.heartbeat({ inFlight: 3 });
    expect(res.state).toBe('active');
    expect(seen).toEqual({
      url: '/base/agent/v1/heartbeat',
      auth: 'Bearer agent-token-1',
      body: { inFlight: 3 },
    });
  });

  it('maps an error body to status and code', async () => {
    const url = await serve(() => [
      403,
      JSON.stringify({ error: { code: 'AGENT_DISABLED', message: 'agent disabled' } }),
    ]);
    const err = await new GatewayClient(new JsonHttpClient(url, 't'))
      .heartbeat({ inFlight: 0 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayHttpError);
    expect(err).toMatchObject({ status: 403, code: 'AGENT_DISABLED' });
    expect(isTransient(err)).toBe(false);
  });

  it('a 5xx without a JSON body and an answer that breaks the contract are transient HTTP errors', async () => {
    const url = await serve((req) =>
      req.url?.endsWith('heartbeat') ? [502, '<html>'] : [200, '{"jobs": "no"}'],
    );
    const client = new GatewayClient(new JsonHttpClient(url, 't'));
    const e1 = await client.heartbeat({ inFlight: 0 }).catch((e: unknown) => e);
    expect(e1).toMatchObject({ status: 502, code: 'HTTP_502' });
    const e2 = await client.claim({ max: 1, waitMs: 0 }).catch((e: unknown) => e);
    expect(e2).toMatchObject({ status: 502, code: 'INVALID_RESPONSE' });
    expect(isTransient(e1) && isTransient(e2)).toBe(true);
  });

  it('calls onRevoked on 401 UNAUTHENTICATED', async () => {
    const url = await serve(() => [
      401,
      JSON.stringify({ error: { code: 'UNAUTHENTICATED', message: 'revoked' } }),
    ]);
    const revoked: Error[] = [];
    const client = new GatewayClient(new JsonHttpClient(url, 't'), (e) => revoked.push(e));
    await expect(client.extend({ jobs: [{ jobId: 'a', token: 'b' }] })).rejects.toMatchObject({
      status: 401,
    });
    expect(revoked).toHaveLength(1);
  });

  it('network errors are distinguishable: refused, timed out, aborted', async () => {
    const closed = await serve(() => [200, '{}']);
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
    const refused = await new GatewayClient(new JsonHttpClient(closed, 't'))
      .heartbeat({ inFlight: 0 })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(GatewayNetworkError);
    expect(refused).toMatchObject({ aborted: false });
    expect(isTransient(refused)).toBe(true);

    const slow = await serve(() => new Promise((r) => setTimeout(() => r([200, heartbeatBody]), 2_000)));
    const client = new GatewayClient(new JsonHttpClient(slow, 't'));
    const timedOut = await client.heartbeat({ inFlight: 0 }, { timeoutMs: 50 }).catch((e: unknown) => e);
    expect(timedOut).toBeInstanceOf(GatewayNetworkError);
    expect((timedOut as Error).message).toContain('timed out');

    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    const aborted = await client
      .heartbeat({ inFlight: 0 }, { signal: controller.signal })
      .catch((e: unknown) => e);
    expect(aborted).toMatchObject({ aborted: true });
  });
});
