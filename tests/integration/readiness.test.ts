import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessCoordinator, type InProcessCoordinator } from '../support/coordinator.js';
import { api } from '../support/http.js';
import { startPrivateRedis, type PrivateRedis } from '../support/redis.js';
import { waitForValue } from '../support/fixtures.js';

/** GET /readyz: 200 only while PostgreSQL and Redis both answer (the coordinator's own private Redis). */
let redis: PrivateRedis;
let c: InProcessCoordinator;

beforeAll(async () => {
  redis = await startPrivateRedis();
  c = await startInProcessCoordinator('readiness', redis.url);
});
afterAll(async () => {
  await c?.close();
  await redis?.stop();
});

interface Ready {
  ok: boolean;
  postgres: boolean;
  redis: boolean;
}

const readyz = () => api(c.url).get<Ready>('/readyz');

describe('/readyz', () => {
  it('is 503 naming Redis while Redis is unreachable, and 200 again once it is back', async () => {
    expect(await readyz()).toEqual({ status: 200, body: { ok: true, postgres: true, redis: true } });

    await redis.down();
    const started = Date.now();
    const down = await readyz();
    expect(down).toEqual({ status: 503, body: { ok: false, postgres: true, redis: false } });
    // The check gives Redis 2 s, not forever (the client queues commands while reconnecting).
    expect(Date.now() - started).toBeLessThan(5_000);
    // Liveness is not readiness: the process itself is fine.
    expect((await api(c.url).get('/healthz')).status).toBe(200);

    await redis.up();
    await waitForValue(async () => (await readyz()).status === 200, {
      timeoutMs: 15_000,
      message: '/readyz to answer 200 once Redis is back',
    });
  });
});
