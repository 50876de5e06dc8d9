/**
 * rpcclient's session (agent/adapters/windows/rpcclient.ts) takes in everything the program wrote
 * before a waiter decides, even output that reaches the agent after the exit (a loaded machine reads
 * it late). A stand-in `rpcclient` first on PATH (the real one needs a server: windows-adapter.test.ts)
 * leaves a child behind that writes after the program exited.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRpcclient } from '../../agent/adapters/windows/rpcclient.js';
import { WindowsConnectionSchema } from '../../shared/targets/windows.js';

let dir: string;
let path: string | undefined;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fake-rpcclient-'));
  const script = join(dir, 'rpcclient');
  writeFileSync(script, '#!/bin/sh\n( sleep 0.3; echo "result was NT_STATUS_OK" ) &\nexit 0\n');
  chmodSync(script, 0o755);
  path = process.env.PATH;
  process.env.PATH = `${dir}:${path ?? '/usr/bin:/bin'}`;
});

afterAll(() => {
  process.env.PATH = path;
  rmSync(dir, { recursive: true, force: true });
});

describe('rpcclient session', () => {
  it('output written after the exit is read before the session says it ended', async () => {
    const c = WindowsConnectionSchema.parse({ host: '127.0.0.1' });
    const session = startRpcclient(c, 'someone', 'a-password', new AbortController().signal);
    try {
      const answer = await session.ask('queryuser someone', /never printed/, 5_000, true);
      expect(answer.ended).toEqual({ kind: 'exited', code: 0 });
      expect(answer.text).toContain('result was NT_STATUS_OK');
    } finally {
      await session.close();
    }
  });
});
