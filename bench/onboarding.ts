/**
 * The onboarding rows of the benchmark: credentials created per second through POST
 * /api/v1/credentials/batch (10,000 to a request, two at a time) and through `syncctl import` of a
 * CSV (the real binary, dist/cli), each for `n` credentials on a site of their own (no agent: every
 * credential's first verification is queued in Redis, as in production, and waits there).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import pLimit from 'p-limit';
import type { Api } from '../tests/support/operator-client.js';
import { REPO_ROOT } from '../tests/support/paths.js';
import type { CreateCredentialsBatchView } from '../shared/contracts/credentials-batch.js';

/** Credentials per target (usernames are unique per target). */
const PER_TARGET = 10_000;
const API_BATCH = 10_000;
const CLI_BATCH = 5_000;

export interface OnboardingResult {
  n: number;
  apiMs: number;
  cliMs: number;
}

async function targetsOf(client: Api, siteId: string, label: string, n: number): Promise<string[]> {
  const limit = pLimit(8);
  return Promise.all(
    Array.from({ length: Math.ceil(n / PER_TARGET) }, (_, i) =>
      limit(async () => {
        const { id } = await client.post<{ id: string }>('/api/v1/targets', {
          siteId,
          name: `${label}-${i}`,
          kind: 'simulated',
          connection: { latencyMs: 0, host: `${label}-host-${i}` },
        });
        return id;
      }),
    ),
  );
}

const password = () => randomBytes(12).toString('base64url');

export async function measureOnboarding(o: {
  client: Api;
  url: string;
  token: string;
  n: number;
  workDir: string;
  onProgress: (text: string) => void;
}): Promise<OnboardingResult> {
  const site = await o.client.post<{ id: string }>('/api/v1/sites', { name: 'onboarding' });

  // Through the API.
  const apiTargets = await targetsOf(o.client, site.id, 'onboard-api', o.n);
  let created = 0;
  const limit = pLimit(2);
  const apiStarted = performance.now();
  await Promise.all(
    Array.from({ length: Math.ceil(o.n / API_BATCH) }, (_, b) =>
      limit(async () => {
        const from = b * API_BATCH;
        const items = Array.from({ length: Math.min(API_BATCH, o.n - from) }, (_, k) => {
          const i = from + k;
          return {
            targetId: apiTargets[Math.floor(i / PER_TARGET)],
            username: `user-${i}`,
            password: password(),
          };
        });
        const answer = await o.client.post<CreateCredentialsBatchView>('/api/v1/credentials/batch', {
          items,
        });
        if (answer.counts.created !== items.length)
          throw new Error(`bulk API: ${JSON.stringify(answer.counts)} for ${items.length} items`);
        created += items.length;
        const secs = (performance.now() - apiStarted) / 1000;
        o.onProgress(`onboarding through the bulk API: ${created}/${o.n} (${Math.round(created / secs)}/s)`);
      }),
    ),
  );
  const apiMs = performance.now() - apiStarted;

  // Through syncctl import.
  const cliTargets = await targetsOf(o.client, site.id, 'onboard-cli', o.n);
  const csv = join(o.workDir, 'onboarding.csv');
  const out = createWriteStream(csv);
  out.write('target,username,password\n');
  for (let i = 0; i < o.n; i++) {
    if (!out.write(`${cliTargets[Math.floor(i / PER_TARGET)]},user-${i},${password()}\n`))
      await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r) => out.end(() => r()));
  const cliStarted = performance.now();
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        join(REPO_ROOT, 'dist', 'cli', 'main.js'),
        '--url',
        o.url,
        '--token',
        o.token,
        'import',
        csv,
        '--batch-size',
        String(CLI_BATCH),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      const line = text.trim().split('\n').at(-1);
      if (line) o.onProgress(`onboarding through syncctl import: ${line}`);
    });
    child.on('error', reject);
    child.on('exit', resolve);
  });
  const cliMs = performance.now() - cliStarted;
  if (code !== 0) throw new Error(`syncctl import exited ${code}`);
  return { n: o.n, apiMs, cliMs };
}

/** The table's rows: goal ≥ 10,000/s, and so a million in under 2 minutes. */
export function onboardingRows(r: OnboardingResult, fmt: (n: number, digits?: number) => string) {
  return (
    [
      ['bulk API (POST /credentials/batch)', r.apiMs],
      ['syncctl import', r.cliMs],
    ] as const
  ).map(([how, ms]) => {
    const rate = (r.n / ms) * 1000;
    return {
      metric: `onboarding: credentials created/s, ${how}, ${fmt(r.n)} credentials (${fmt(ms / 1000, 1)} s)`,
      value: `${fmt(rate)}/s`,
      target: '≥ 10,000/s',
      ok: rate >= 10_000,
    };
  });
}
