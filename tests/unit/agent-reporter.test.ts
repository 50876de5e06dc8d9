import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAdapterRegistry } from '../../agent/adapters/index.js';
import type { Adapter } from '../../agent/adapters/types.js';
import { GatewayClient } from '../../agent/gateway.js';
import { JsonHttpClient } from '../../agent/http.js';
import { Outbox } from '../../agent/outbox.js';
import { Reporter } from '../../agent/reporter.js';
import { JobRunner } from '../../agent/runner.js';
import { GATEWAY_PATHS, type ReportItem, type ReportRequest } from '../../shared/contracts/gateway.js';

const log = pino({ level: 'silent' });

/** A gateway stand-in on 127.0.0.1: answers /report as `respond` says and records what it got. */
class ReportServer {
  received: ReportRequest[] = [];
  respond: (body: ReportRequest) => [number, unknown] = (body) => [
    200,
    { accepted: body.results.map((r) => r.jobId), rejected: [] },
  ];
  private server: Server | undefined;
  port = 0;

  async start(port = 0): Promise<void> {
    this.server = createServer((req, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => {
        const body = JSON.parse(text) as ReportRequest;
        const [status, json] = req.url === GATEWAY_PATHS.report ? this.respond(body) : [404, {}];
        if (status === 200) this.received.push(body);
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server!.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  get items(): ReportItem[] {
    return this.received.flatMap((r) => r.results);
  }
}

const waitFor = async (check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> => {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
};

const item = (n: number): ReportItem => ({
  jobId: `v-${randomUUID()}`,
  token: `tok-${n}`,
  result: { outcome: 'ok' },
  durationMs: n,
});

describe('reporter', () => {
  let dir: string;
  let server: ReportServer;
  let outbox: Outbox;
  const reporters: Reporter[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'agent-reporter-'));
    outbox = new Outbox(path.join(dir, 'outbox.jsonl'));
    server = new ReportServer();
    await server.start();
  });
  afterEach(async () => {
    await Promise.all(reporters.splice(0).map((r) => r.close(200)));
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const reporter = (port = server.port, flushMs = 10): Reporter => {
    const client = new GatewayClient(new JsonHttpClient(`http://127.0.0.1:${port}`, 'test'));
    const r = new Reporter({ client, outbox, log, flushMs, retryBaseMs: 20, retryCapMs: 100 });
    reporters.push(r);
    return r;
  };
  const outboxText = (): Promise<string> => readFile(outbox.file, 'utf8').catch(() => '');

  it('batches results arriving together into one call', async () => {
    const r = reporter();
    await r.open();
    const items = [item(1), item(2), item(3)];
    for (const i of items) r.enqueue(i);
    await waitFor(() => server.items.length === 3);
    expect(server.received).toHaveLength(1);
    expect(server.items).toEqual(items);
  });

  it('sends at most 500 results per call, at once when 500 are waiting', async () => {
    const r = reporter(server.port, 60_000);
    await r.open();
    r.enqueue(item(0));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.received).toEqual([]);
    for (let n = 1; n < 1_200; n++) r.enqueue(item(n));
    await waitFor(() => server.items.length === 1_200);
    expect(server.received.map((b) => b.results.length)).toEqual([500, 500, 200]);
    expect(server.items.map((i) => i.durationMs)).toEqual([...Array(1_200).keys()]);
  });

  it('keeps results in the outbox while the coordinator fails, then delivers and empties it', async () => {
    let failing = true;
    server.respond = (body) =>
      failing
        ? [503, { error: { code: 'UNAVAILABLE', message: 'down' } }]
        : [200, { accepted: body.results.map((x) => x.jobId), rejected: [] }];

    // Results come from the real runner, with an adapter whose messages quote the passwords.
    const leaky: Adapter = {
      kind: 'simulated',
      verify: async (_ctx, pw) => ({ ok: false, reason: 'mismatch', message: `rejected ${pw}` }),
      change: async (_ctx, cur, next) => ({ ok: false, reason: 'error', message: `${cur}->${next}` }),
    };
    const runner = new JobRunner(createAdapterRegistry([leaky]), log);
    const passwords = ['Sup3r-Secret-Current', 'Sup3r-Secret-Pending'];
    const r = reporter();
    await r.open();
    const jobIds: string[] = [];
    for (const kind of ['verify', 'change', 'reconcile'] as const) {
      const jobId = `${kind[0]}-${randomUUID()}`;
      jobIds.push(jobId);
      const result = await runner.run(
        {
          jobId,
          token: 't',
          kind,
          credentialId: randomUUID(),
          attempt: 1,
          target: { id: randomUUID(), kind: 'simulated', host: 'h', connection: {} },
          username: 'u',
          password: passwords[0]!,
          pendingPassword: passwords[1]!,
        },
        new AbortController().signal,
      );
      r.enqueue({ jobId, token: 't', result, durationMs: 1 });
    }

    await waitFor(async () => (await outboxText()).trim().split('\n').length === 3);
    const text = await outboxText();
    for (const pw of passwords) expect(text).not.toContain(pw);
    expect(
      text
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as ReportItem).jobId),
    ).toEqual(jobIds);
    expect((await stat(outbox.file)).mode & 0o777).toBe(0o600);
    expect(server.items).toEqual([]);

    failing = false;
    await waitFor(async () => server.items.length === 3 && (await outboxText()) === '');
    expect(server.items.map((i) => i.jobId)).toEqual(jobIds);
    expect(r.backlog).toBe(0);
  });

  it('queues new results behind the outbox, oldest first', async () => {
    let failing = true;
    server.respond = (body) =>
      failing ? [500, {}] : [200, { accepted: body.results.map((x) => x.jobId), rejected: [] }];
    const r = reporter();
    await r.open();
    const first = item(1);
    r.enqueue(first);
    await waitFor(async () => (await outboxText()) !== '');
    const second = item(2);
    r.enqueue(second);
    failing = false;
    await waitFor(() => server.items.length === 2);
    expect(server.items.map((i) => i.jobId)).toEqual([first.jobId, second.jobId]);
  });

  it('sends the outbox of an earlier run first, before new results', async () => {
    const old = [item(1), item(2)];
    await writeFile(outbox.file, `${old.map((i) => JSON.stringify(i)).join('\n')}\nnot json\n`, {
      mode: 0o600,
    });
    const r = reporter();
    await r.open();
    const fresh = item(3);
    r.enqueue(fresh);
    await waitFor(() => server.items.length === 3);
    expect(server.received[0]!.results).toEqual(old);
    expect(server.items.map((i) => i.jobId)).toEqual([...old, fresh].map((i) => i.jobId));
    await waitFor(async () => (await outboxText()) === '');
  });

  it('a result that cannot be delivered at shutdown stays in the outbox for the next start', async () => {
    const port = server.port;
    await server.stop();
    const r = reporter(port, 60_000);
    await r.open();
    const pending = [item(1), item(2)];
    for (const i of pending) r.enqueue(i);
    await r.close(300);
    const lines = (await outboxText()).trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as ReportItem).jobId)).toEqual(pending.map((i) => i.jobId));

    server = new ReportServer();
    await server.start(port);
    const next = reporter(port);
    await next.open();
    await waitFor(async () => server.items.length === 2 && (await outboxText()) === '');
  });

  it('drops rejected results (not resent) and results refused with a 400', async () => {
    server.respond = (body) => [
      200,
      { accepted: [], rejected: body.results.map((x) => ({ jobId: x.jobId, code: 'JOB_NOT_HELD' })) },
    ];
    const r = reporter();
    await r.open();
    r.enqueue(item(1));
    await waitFor(() => server.received.length === 1);
    await r.close();
    expect(server.received).toHaveLength(1);
    expect(await outboxText()).toBe('');

    let calls = 0;
    server.respond = () => {
      calls++;
      return [400, { error: { code: 'VALIDATION_FAILED', message: 'results.0: bad' } }];
    };
    const r2 = reporter();
    await r2.open();
    r2.enqueue(item(2));
    await r2.close();
    expect(calls).toBe(1);
    expect(await outboxText()).toBe('');
    expect(r2.backlog).toBe(0);
  });
});
