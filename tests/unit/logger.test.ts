import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/logger.js';

/** A logger at trace level whose lines land in `lines`. */
function captured(): { log: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { log: createLogger('test', 'trace', {}, sink), lines };
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
