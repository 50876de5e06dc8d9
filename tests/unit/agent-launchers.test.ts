/**
 * Every launcher of the agent process this repository ships starts Node with the agent's options
 * (agent/node-flags.ts): the package's `sync-agent` command and the image's `sync-agent` wrapper (the
 * systemd unit's ExecStart is checked in agent-service-unit.test.ts), and this Node accepts them.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGENT_NODE_FLAGS } from '../../agent/node-flags.js';
import { REPO_ROOT } from '../support/paths.js';

const read = (...path: string[]) => readFileSync(join(REPO_ROOT, ...path), 'utf8');

describe("the agent's Node options", () => {
  it('the Debian package’s sync-agent command passes them', () => {
    const exec = read('packaging', 'deb', 'sync-agent.sh')
      .split('\n')
      .filter((line) => line.startsWith('exec '));
    expect(exec).toEqual([
      `exec /usr/bin/node ${AGENT_NODE_FLAGS.join(' ')} /usr/lib/sync-agent/dist/agent/main.js "$@"`,
    ]);
  });

  it('the image’s sync-agent wrapper passes them, and only that wrapper', () => {
    const flags = /const flags = (\{[^}]*\});/.exec(read('Dockerfile'))?.[1];
    expect(JSON.parse(flags ?? 'null')).toEqual({ 'sync-agent': `${AGENT_NODE_FLAGS.join(' ')} ` });
  });

  it('this Node accepts them: the agent starts with them', () => {
    const main = join(REPO_ROOT, 'dist', 'agent', 'main.js');
    const res = spawnSync(process.execPath, [...AGENT_NODE_FLAGS, main, 'version'], { encoding: 'utf8' });
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
  });

  it('the young generation is the size the option asks for (V8 sizes it at start)', () => {
    const newSpace = (flags: readonly string[]) => {
      const res = spawnSync(
        process.execPath,
        [
          ...flags,
          '-e',
          // Allocate enough short-lived garbage for the new space to grow to its maximum.
          "let a; for (let i = 0; i < 2e6; i++) a = { i, s: 'x' + i }; " +
            "console.log(require('v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size)",
        ],
        { encoding: 'utf8' },
      );
      return Number(res.stdout.trim());
    };
    const semi = Number(/^--max-semi-space-size=(\d+)$/.exec(AGENT_NODE_FLAGS[0] ?? '')?.[1]);
    expect(newSpace(AGENT_NODE_FLAGS)).toBeLessThanOrEqual(2 * semi * 2 ** 20);
    expect(newSpace([])).toBeGreaterThan(2 * semi * 2 ** 20);
  });
});
