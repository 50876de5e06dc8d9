/** The agent's metrics listener: a port or host it cannot listen on stops the start naming the setting. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, it } from 'vitest';
import { AgentMetrics } from '../../agent/metrics.js';
import { SyncError } from '../../shared/errors.js';

const metrics = () => new AgentMetrics({ inFlight: () => 0, backlog: () => 0, concurrency: 1 });

it('a port in use is an error naming AGENT_METRICS_PORT (it was a bare EADDRINUSE)', async () => {
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  const { port } = taken.address() as AddressInfo;
  try {
    const err = await metrics()
      .listen(port, '127.0.0.1')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncError);
    expect((err as Error).message).toBe(
      `AGENT_METRICS_PORT: cannot listen on 127.0.0.1:${port} (EADDRINUSE)`,
    );
  } finally {
    await new Promise((r) => taken.close(r));
  }
});

it('an address this machine does not have is an error naming AGENT_METRICS_HOST', async () => {
  const err = await metrics()
    .listen(0, '192.0.2.1')
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(SyncError);
  expect((err as Error).message).toMatch(
    /^AGENT_METRICS_HOST: cannot listen on 192\.0\.2\.1:0 \(EADDRNOTAVAIL\)$/,
  );
});
