import { Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { createLogger, lazyChild } from '../../shared/logger.js';

/** A logger at trace level whose lines land in `lines`. */
function captured(level = 'trace'): { log: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { log: createLogger('test', level, {}, sink), lines };
}

describe('log redaction', () => {
  it('censors secret keys at any depth up to four levels, in objects and arrays', () => {
    const { log, lines } = captured();
    const secrets = Array.from({ length: 12 }, (_, i) => `S3cret-${i}-${Math.random()}`);
    log.info(
      {
        password: secrets[0],
        job: { pendingPassword: secrets[1], privileged: { username: 'root', password: secrets[2] } },
        jobs: [{ password: secrets[3], pendingPassword: secrets[4], privileged: { password: secrets[5] } }],
        result: { item: { newPassword: secrets[6] } },
        req: { headers: { authorization: `Bearer ${secrets[7]}`, cookie: secrets[8] } },
        row: { pending_secret: secrets[9], secret: secrets[10] },
        agent: { enrollment: { token: secrets[11] } },
      },
      'a line with secrets in it',
    );
    const text = lines.join('');
    expect(text).toContain('a line with secrets in it');
    expect(text).toContain('"username":"root"'); // the rest is kept
    expect(text).toContain('[redacted]');
    for (const secret of secrets) expect(text).not.toContain(secret);
  });
});

describe('lazyChild', () => {
  it('makes no child for lines of a disabled level, and one child, with its bindings and redaction, once a line is written', () => {
    const { log, lines } = captured('info');
    const child = vi.spyOn(log, 'child');
    const jobLog = lazyChild(log, { jobId: 'v-1', credentialId: 'c-1' });
    jobLog.debug({ password: 'never-written' }, 'a debug line');
    jobLog.trace('a trace line');
    expect(child).not.toHaveBeenCalled();
    expect(lines).toEqual([]);

    jobLog.info({ password: 'Hunter2-secret' }, 'job failed');
    jobLog.warn('again');
    expect(child).toHaveBeenCalledTimes(1);
    expect(jobLog.isLevelEnabled('debug')).toBe(false);
    expect(lines).toHaveLength(2);
    const first = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(first).toMatchObject({
      jobId: 'v-1',
      credentialId: 'c-1',
      msg: 'job failed',
      password: '[redacted]',
    });
    expect(lines.join('')).not.toContain('Hunter2-secret');
  });

  it('follows the parent level when it changes', () => {
    const { log, lines } = captured('info');
    const jobLog = lazyChild(log, { jobId: 'v-2' });
    log.level = 'debug';
    jobLog.debug('now written');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ jobId: 'v-2', msg: 'now written' });
  });
});
