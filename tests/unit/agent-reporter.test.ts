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
import { ClaimGate } from '../../agent/claim-gate.js';
import { ClaimLoop } from '../../agent/claim-loop.js';
import { InFlight } from '../../agent/in-flight.js';
import { SlotClaims } from '../../agent/report-claims.js';
import { Reporter } from '../../agent/reporter.js';
import { JobRunner } from '../../agent/runner.js';
import {
  GATEWAY_PATHS,
  type ClaimedJob,
  type ReportItem,
  type ReportRequest,
} from '../../shared/contracts/gateway.js';

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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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

  it('sends the results waiting at once when told no job is running (not after flushMs)', async () => {
    const r = reporter(server.port, 60_000);
    await r.open();
    r.enqueue(item(1));
    r.enqueue(item(2));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.received).toEqual([]);
    r.sendNow();
    await waitFor(() => server.items.length === 2);
    expect(server.received).toHaveLength(1);
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

  it("an urgent result (an operator's Sync now) goes out at once on its own, beside a batch waiting", async () => {
    const r = reporter(server.port, 60_000);
    await r.open();
    const batch = [item(1), item(2)];
    for (const i of batch) r.enqueue(i);
    const urgent = item(3);
    r.enqueue(urgent, true);
    await waitFor(() => server.items.length === 1);
    expect(server.received).toEqual([{ results: [urgent] }]);
    expect(r.backlog).toBe(2); // the batch still waits for its flush
  });

  it('an urgent result that cannot be delivered is kept in the outbox and delivered with it', async () => {
    let failing = true;
    server.respond = (body) =>
      failing ? [503, {}] : [200, { accepted: body.results.map((x) => x.jobId), rejected: [] }];
    const r = reporter();
    await r.open();
    const urgent = item(1);
    r.enqueue(urgent, true);
    await waitFor(async () => (await outboxText()).includes(urgent.jobId));
    const next = item(2);
    r.enqueue(next, true); // the outbox is in use: it queues behind it
    failing = false;
    await waitFor(() => server.items.length === 2);
    expect(server.items.map((i) => i.jobId)).toEqual([urgent.jobId, next.jobId]);
    await waitFor(async () => (await outboxText()) === '');
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

  it('a stop does not deliver a large outbox whole: no batch starts after its bound, the rest stays', async () => {
    const stored = Array.from({ length: 3000 }, (_, n) => item(n)); // six batches
    await writeFile(outbox.file, `${stored.map((i) => JSON.stringify(i)).join('\n')}\n`, { mode: 0o600 });
    const answer = new ReportServer().respond; // accepts every result
    let requests = 0;
    const delayed = createServer((req, res) => {
      requests++;
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () =>
        setTimeout(() => {
          const [status, json] = answer(JSON.parse(text) as ReportRequest);
          res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
        }, 200),
      );
    });
    await new Promise<void>((r) => delayed.listen(0, '127.0.0.1', r));
    try {
      const r = reporter((delayed.address() as AddressInfo).port);
      await r.open();
      await waitFor(() => requests === 1);
      const started = Date.now();
      // Each batch is answered within the close's 300 ms: before the bound, all six went (1.2 s).
      await r.close(300); // no batch starts after 600 ms
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(requests).toBeLessThanOrEqual(4);
      const left = (await outboxText()).trim().split('\n');
      // What was not delivered (a batch whose answer came too late counts as not delivered) stays, in order.
      expect(left.length).toBeGreaterThanOrEqual(3000 - 500 * requests);
      expect(left.length).toBeLessThan(3000);
      expect(left.map((l) => (JSON.parse(l) as ReportItem).jobId)).toEqual(
        stored.slice(3000 - left.length).map((i) => i.jobId),
      );
    } finally {
      delayed.closeAllConnections();
      await new Promise((r) => delayed.close(r));
    }
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

/** A job as a coordinator hands it out (verify, simulated target). */
const claimed = (n: number): ClaimedJob => ({
  jobId: `v-${randomUUID()}`,
  token: `agent.tok-${n}`,
  kind: 'verify',
  credentialId: randomUUID(),
  attempt: 0,
  target: { id: randomUUID(), kind: 'simulated', host: 'h', connection: {} },
  username: `u${n}`,
  password: `p${n}`,
});

describe('reporter asking for the next jobs (slot accounting)', () => {
  const CONCURRENCY = 5;
  let dir: string;
  let server: ReportServer;
  let outbox: Outbox;
  let inFlight: InFlight;
  let gate: ClaimGate;
  let allowed: boolean;
  let stopping: boolean;
  let executed: { job: ClaimedJob; sentAt: number }[];
  let released: ClaimedJob[];
  const reporters: Reporter[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'agent-report-claims-'));
    outbox = new Outbox(path.join(dir, 'outbox.jsonl'));
    server = new ReportServer();
    await server.start();
    inFlight = new InFlight();
    gate = new ClaimGate(log);
    gate.open();
    allowed = true;
    stopping = false;
    executed = [];
    released = [];
  });
  afterEach(async () => {
    await Promise.all(reporters.splice(0).map((r) => r.close(200)));
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const reporter = (): Reporter => {
    const client = new GatewayClient(new JsonHttpClient(`http://127.0.0.1:${server.port}`, 'test'));
    const claims = new SlotClaims({
      inFlight,
      gate,
      concurrency: CONCURRENCY,
      allowed: () => allowed,
      stopping: () => stopping,
      execute: (job, sentAt) => {
        executed.push({ job, sentAt });
        inFlight.add(job, sentAt);
      },
      release: async (jobs) => {
        released.push(...jobs);
      },
      log,
    });
    const r = new Reporter({ client, claims, outbox, log, flushMs: 10, retryBaseMs: 20, retryCapMs: 100 });
    reporters.push(r);
    return r;
  };
  /** Answers every report, handing out as many jobs as it asked for. */
  const handOutAsked = (body: ReportRequest): [number, unknown] => [
    200,
    {
      accepted: body.results.map((r) => r.jobId),
      rejected: [],
      ...(body.claim ? { jobs: Array.from({ length: body.claim.max }, (_, i) => claimed(i)) } : {}),
    },
  ];

  it('asks for as many jobs as slots are free when it sends; runs them from the send time; frees the reservation', async () => {
    for (let i = 0; i < 3; i++) inFlight.add(claimed(100 + i));
    server.respond = handOutAsked;
    const r = reporter();
    await r.open();
    const before = performance.now();
    r.enqueue(item(1));
    expect(r.claimsSoon).toBe(true);
    await waitFor(() => executed.length === 2);
    expect(server.received[0]!.claim).toEqual({ max: 2 });
    expect(executed.every((e) => e.sentAt >= before && e.sentAt <= performance.now())).toBe(true);
    expect(inFlight.size).toBe(5);
    await waitFor(() => inFlight.reservedSlots === 0);
    expect(r.claimsSoon).toBe(false);

    // No slot free: the next report asks for nothing.
    r.enqueue(item(2));
    await waitFor(() => server.received.length === 2);
    expect(server.received[1]).not.toHaveProperty('claim');
    expect(executed).toHaveLength(2);
  });

  it('never asks while the coordinator does not allow it, the gate is closed, or for the outbox', async () => {
    server.respond = handOutAsked;
    allowed = false;
    const r = reporter();
    await r.open();
    r.enqueue(item(1));
    expect(r.claimsSoon).toBe(false);
    await waitFor(() => server.received.length === 1);
    expect(server.received[0]).not.toHaveProperty('claim');

    allowed = true;
    gate.pause('AGENT_DISABLED');
    r.enqueue(item(2));
    await waitFor(() => server.received.length === 2);
    expect(server.received[1]).not.toHaveProperty('claim');
    gate.open();

    // Undelivered results go to the outbox; their retries carry no claim.
    let fail = true;
    server.respond = (body) =>
      fail ? [503, { error: { code: 'UNAVAILABLE', message: 'x' } }] : handOutAsked(body);
    r.enqueue(item(3));
    await waitFor(() => r.backlog === 1 && inFlight.reservedSlots === 0);
    await waitFor(async () => (await readFile(outbox.file, 'utf8').catch(() => '')).length > 0);
    expect(r.claimsSoon).toBe(false);
    fail = false;
    await waitFor(() => server.received.length === 3);
    expect(server.received[2]).not.toHaveProperty('claim');
    expect(server.received[2]!.results.map((x) => x.durationMs)).toEqual([3]);
    expect(executed).toHaveLength(0);
    expect(inFlight.reservedSlots).toBe(0);
  });

  it('a coordinator that refuses claim (400) gets the same results again without it', async () => {
    server.respond = (body) =>
      body.claim
        ? [400, { error: { code: 'VALIDATION_FAILED', message: 'body: unrecognized key "claim"' } }]
        : handOutAsked(body);
    const r = reporter();
    await r.open();
    r.enqueue(item(1));
    await waitFor(() => server.received.length === 1);
    expect(server.received[0]).not.toHaveProperty('claim');
    expect(server.received[0]!.results.map((x) => x.durationMs)).toEqual([1]);
    await waitFor(() => inFlight.reservedSlots === 0);
    expect(r.backlog).toBe(0);
  });

  it('jobs that come while the agent stops are handed back, not run', async () => {
    server.respond = (body) => {
      stopping = true;
      return handOutAsked(body);
    };
    const r = reporter();
    await r.open();
    r.enqueue(item(1));
    await waitFor(() => released.length === CONCURRENCY);
    expect(executed).toHaveLength(0);
    expect(inFlight.size).toBe(0);
    expect(inFlight.reservedSlots).toBe(0);
  });

  it('the claim loop leaves free slots to a report about to ask, and claims what it left free', async () => {
    const asked: number[] = [];
    const client = {
      claim: async ({ max }: { max: number }, { signal }: { signal: AbortSignal }) => {
        asked.push(max);
        await new Promise((resolve) => setTimeout(resolve, 50));
        if (signal.aborted) throw new Error('aborted');
        return { jobs: [] };
      },
    } as unknown as GatewayClient;
    server.respond = handOutAsked;
    for (let i = 0; i < CONCURRENCY; i++) inFlight.add(claimed(200 + i));
    const r = reporter();
    await r.open();
    const loop = new ClaimLoop({
      client,
      gate,
      inFlight,
      concurrency: CONCURRENCY,
      waitMs: 0,
      execute: () => undefined,
      deferToReports: () => r.claimsSoon,
      log,
    });
    loop.start();
    try {
      await sleep(30);
      expect(asked).toEqual([]); // all slots busy
      // Two jobs finish: their results wait for the report, which takes their slots.
      const [a, b] = inFlight.all();
      r.enqueue(item(1));
      r.enqueue(item(2));
      inFlight.finish(a!);
      inFlight.finish(b!);
      await waitFor(() => executed.length === 2);
      expect(server.received[0]!.claim).toEqual({ max: 2 });
      expect(asked).toEqual([]);
      // The answer filled them; one more finishes with no report to come: the loop claims it.
      const [c2] = inFlight.all();
      inFlight.finish(c2!);
      await waitFor(() => asked.length > 0);
      expect(asked[0]).toBe(1);
      expect(inFlight.size + inFlight.reservedSlots).toBeLessThanOrEqual(CONCURRENCY);
    } finally {
      await loop.stop();
    }
    expect(inFlight.reservedSlots).toBe(0);
  });
});
