import { describe, expect, it } from 'vitest';
import { HostLimits } from '../../agent/host-limits.js';

/** A task that runs until released, recording how many run on its host at once. */
function gated(log: string[], name: string) {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const task = async () => {
    log.push(`start ${name}`);
    await gate;
    log.push(`end ${name}`);
    return name;
  };
  return { task, release };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('HostLimits', () => {
  it('runs at most perHost tasks a host at once, the others in the order they came; other hosts are not held', async () => {
    const limits = new HostLimits(2);
    const log: string[] = [];
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => gated(log, n));
    const other = gated(log, 'x');
    const runs = [a, b, c, d].map((t) => limits.run('h1', t!.task));
    const x = limits.run('h2', other.task);
    await turn();
    expect(log).toEqual(['start a', 'start b', 'start x']);
    expect(limits.hostCount).toBe(2);
    b!.release();
    await turn();
    expect(log).toEqual(['start a', 'start b', 'start x', 'end b', 'start c']);
    a!.release();
    c!.release();
    d!.release();
    other.release();
    expect(await Promise.all([...runs, x])).toEqual(['a', 'b', 'c', 'd', 'x']);
    expect(log.filter((l) => l.startsWith('start'))).toEqual([
      'start a',
      'start b',
      'start x',
      'start c',
      'start d',
    ]);
    expect(limits.hostCount).toBe(0);
  });

  it('a task that fails passes its session on and its error to its caller', async () => {
    const limits = new HostLimits(1);
    const failing = limits.run('h', () => Promise.reject(new Error('boom')));
    const next = limits.run('h', () => Promise.resolve('ran'));
    await expect(failing).rejects.toThrow('boom');
    expect(await next).toBe('ran');
    expect(limits.hostCount).toBe(0);
  });

  it('never more than perHost at once under many tasks that end in any order', async () => {
    const limits = new HostLimits(3);
    const now = [0, 0, 0, 0];
    const most = [0, 0, 0, 0];
    const runs = Array.from({ length: 200 }, (_, i) =>
      limits.run(`h${i % 4}`, async () => {
        const h = i % 4;
        most[h] = Math.max(most[h]!, ++now[h]!);
        await new Promise((resolve) => setTimeout(resolve, (i * 7) % 5));
        now[h]!--;
        return i;
      }),
    );
    expect(await Promise.all(runs)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(most).toEqual([3, 3, 3, 3]);
    expect(limits.hostCount).toBe(0);
  });
});
