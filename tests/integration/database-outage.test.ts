/**
 * PostgreSQL unavailable (docs/operations.md "When PostgreSQL is down"): the coordinator reaches its
 * database through a TCP relay of this test's, which forwards, hangs (accepts and never answers) or
 * refuses. While it hangs or refuses, requests answer 503 UNAVAILABLE within
 * DATABASE_CONNECT_TIMEOUT_MS (never a 500, never a request without an end), /metrics and /healthz
 * answer, /readyz says postgres: false; once it forwards again the coordinator goes on by itself.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ADMIN_TOKEN, startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import { api } from '../support/http.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { waitFor } from '../support/wait.js';

const CONNECT_TIMEOUT_MS = 1000;
const QUERY_TIMEOUT_MS = 1500;

/** A relay to PostgreSQL on 127.0.0.1: `forward`, `hang` (accept, never answer) or `refuse` (closed). */
class Relay {
  mode: 'forward' | 'hang' = 'forward';
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  /** Open connections stop carrying anything either way (a server frozen: SIGSTOP, a cut link). */
  frozen = false;
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async listen(port = 0): Promise<void> {
    this.server = net.createServer((client) => {
      this.sockets.add(client);
      client.on('close', () => this.sockets.delete(client));
      client.on('error', () => undefined);
      if (this.mode === 'hang') return;
      const upstream = net.connect(this.target);
      this.sockets.add(upstream);
      upstream.on('close', () => this.sockets.delete(upstream));
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      const carry = (from: net.Socket, to: net.Socket) =>
        from.on('data', (chunk: Buffer) => {
          if (!this.frozen) to.write(chunk);
        });
      carry(client, upstream);
      carry(upstream, client);
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server!.address() as net.AddressInfo).port;
  }

  /** Every connection through it cut (the coordinator's pool must connect again). */
  cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  /** Refuses connections from now on (the port is closed). */
  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }
}

let db: TestDatabase;
let relay: Relay;
let c: InProcessCoordinator;

beforeAll(async () => {
  db = await createTestDatabase('db-outage');
  const url = new URL(db.url);
  relay = new Relay({ host: url.hostname, port: Number(url.port || 5432) });
  await relay.listen();
  url.host = `127.0.0.1:${relay.port}`;
  c = await startInProcessCoordinator(
    'db-outage',
    inject('redisUrl'),
    {
      DATABASE_URL: url.toString(),
      DATABASE_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
      DATABASE_QUERY_TIMEOUT_MS: String(QUERY_TIMEOUT_MS),
    },
    { kind: 'postgres' },
  );
});
afterAll(async () => {
  relay.mode = 'forward';
  await c?.close();
  await relay?.close();
  await db?.drop();
});

/** A request timed; its status and body. */
async function timed(path: string, token?: string) {
  const started = performance.now();
  const res = await api(c.url, token).get<{ error?: { code: string; message: string } }>(path);
  return { ...res, ms: performance.now() - started };
}

describe('PostgreSQL unavailable', () => {
  it('frozen on the connections the coordinator has: 503 within the query timeout; those connections are not used again', async () => {
    const token = ADMIN_TOKEN;
    // Warm: the pool holds open connections.
    await Promise.all(Array.from({ length: 4 }, () => c.admin.get('/sites')));
    relay.frozen = true;
    const answers = await Promise.all(
      ['/api/v1/sites', '/api/v1/summary', '/api/v1/credentials?limit=1'].map((p) => timed(p, token)),
    );
    for (const res of answers) {
      expect(res.status).toBe(503);
      expect(res.body.error?.code).toBe('UNAVAILABLE');
      expect(res.ms).toBeLessThan(QUERY_TIMEOUT_MS + CONNECT_TIMEOUT_MS + 2000);
    }
    // Thawed: the connections that timed out were closed; new ones answer.
    relay.frozen = false;
    await waitFor(async () => (await c.admin.get('/sites')).status === 200, {
      timeoutMs: 10_000,
      message: 'the API answers again once PostgreSQL does',
    });
    for (let i = 0; i < 10; i++) expect((await c.admin.get('/sites')).status).toBe(200);
  });

  it('hanging, then refusing: 503 UNAVAILABLE within the connect timeout; back by itself', async () => {
    expect((await c.admin.get('/sites')).status).toBe(200);
    const token = ADMIN_TOKEN;

    relay.mode = 'hang';
    relay.cut();
    for (const path of ['/api/v1/sites', '/api/v1/summary', '/api/v1/credentials?limit=1']) {
      const res = await timed(path, token);
      expect(res.status, path).toBe(503);
      expect(res.body.error?.code, path).toBe('UNAVAILABLE');
      expect(res.body.error?.message, path).toContain('PostgreSQL');
      expect(res.ms, path).toBeLessThan(CONNECT_TIMEOUT_MS + 2000);
    }
    const ready = await timed('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ ok: false, postgres: false });
    expect((await timed('/healthz')).status).toBe(200);
    const metrics = await timed('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.ms).toBeLessThan(CONNECT_TIMEOUT_MS + 3000);

    await relay.close();
    const refused = await timed('/api/v1/sites', token);
    expect(refused.status).toBe(503);
    expect(refused.body.error?.code).toBe('UNAVAILABLE');
    expect(refused.ms).toBeLessThan(CONNECT_TIMEOUT_MS);

    relay.mode = 'forward';
    await relay.listen(relay.port);
    await waitFor(async () => (await c.admin.get('/sites')).status === 200, {
      timeoutMs: 10_000,
      message: 'the API answers again once PostgreSQL does',
    });
    expect((await timed('/readyz')).status).toBe(200);
  });

  it('lists the 503 on every route that reads the database', async () => {
    const doc = await api(c.url).get<{ paths: Record<string, Record<string, { responses: object }>> }>(
      '/openapi.json',
    );
    const system = new Set(['/healthz', '/metrics', '/openapi.json']);
    for (const [path, methods] of Object.entries(doc.body.paths))
      for (const [method, op] of Object.entries(methods))
        if (!system.has(path)) expect(Object.keys(op.responses), `${method} ${path}`).toContain('503');
  });
});
