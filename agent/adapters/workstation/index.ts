import type { ClientChannel } from 'ssh2';
import type { WorkstationConnection } from '../../../shared/targets/workstation.js';
import type { Adapter, AdapterContext, Attempt } from '../types.js';
import { passwdDialogue } from './passwd.js';
import { closeStatus, exec, login, oneLine, type Session } from './ssh.js';

type Ctx = AdapterContext<WorkstationConnection>;
type Failure = Extract<Attempt, { ok: false }>;

/**
 * The `workstation` adapter: SSH with passwords only (ssh2), host key pinned by SHA256 fingerprint.
 * verify = a password login. change = `passwd` run by the account itself on a PTY, or
 * `sudo -S chpasswd` run by the target's privileged account. Passwords travel only inside the SSH
 * session (authentication, PTY answers, stdin): never on a command line, in a log line or a message.
 */
export const workstationAdapter: Adapter<WorkstationConnection> = {
  kind: 'workstation',
  async verify(ctx, password) {
    const result = await login(ctx.connection, ctx.username, password, ctx.signal);
    if (!result.ok) return result.attempt;
    result.session.client.end();
    return withObserved({ ok: true }, result.session);
  },
  async change(ctx, current, next) {
    // A line break ends the answer (passwd) or the record (chpasswd); other control characters are
    // interpreted by the terminal. Nothing was sent: a definite refusal.
    if (/[\x00-\x1f\x7f]/.test(next)) {
      return {
        ok: false,
        reason: 'change_failed',
        message: 'the new password contains control characters, which passwd and chpasswd cannot take',
        definite: true,
      };
    }
    return ctx.connection.changeVia === 'privileged'
      ? changePrivileged(ctx, next)
      : changeSelf(ctx, current, next);
  },
};

const withObserved = (attempt: Attempt, session: Session): Attempt =>
  session.observed ? { ...attempt, observed: session.observed } : attempt;

const redactor =
  (...secrets: string[]) =>
  (text: string): string =>
    secrets.filter((s) => s.length > 0).reduce((t, s) => t.split(s).join('[redacted]'), text);

async function changeSelf(ctx: Ctx, current: string, next: string): Promise<Attempt> {
  const result = await login(ctx.connection, ctx.username, current, ctx.signal);
  if (!result.ok) return result.attempt;
  const { client } = result.session;
  try {
    let channel: ClientChannel;
    try {
      // LC_ALL=C: English prompts and messages, whatever the server's locale.
      channel = await withTimeout(exec(client, 'env LC_ALL=C passwd', true), ctx.connection.promptTimeoutMs);
    } catch (err) {
      return withObserved(notStarted(`cannot start passwd: ${(err as Error).message}`), result.session);
    }
    const attempt = await passwdDialogue(channel, {
      current,
      next,
      promptTimeoutMs: ctx.connection.promptTimeoutMs,
      signal: ctx.signal,
      redact: redactor(current, next),
    });
    return withObserved(attempt, result.session);
  } finally {
    client.end();
  }
}

/**
 * The privileged account logs in and resets the password with `sudo -S chpasswd`: its own password
 * (when sudo wants one) and then `user:newpassword` go on stdin. sudo's password is checked first
 * with `sudo -v`, so a wrong one never makes sudo read the new password as a second try.
 */
async function changePrivileged(ctx: Ctx, next: string): Promise<Attempt> {
  const privileged = ctx.privileged;
  if (!privileged) {
    return {
      ok: false,
      reason: 'change_failed',
      message: 'the privileged account (privilegedCredentialId) was not handed out with this job',
      definite: true,
    };
  }
  if (ctx.username.includes(':') || /\s/.test(ctx.username)) {
    return {
      ok: false,
      reason: 'change_failed',
      message: 'the user name cannot be given to chpasswd',
      definite: true,
    };
  }
  const c = ctx.connection;
  const result = await login(c, privileged.username, privileged.password, ctx.signal);
  if (!result.ok) {
    const a = result.attempt;
    if (a.reason === 'unreachable') return a;
    // The privileged account's own failure says nothing about this credential's password.
    const failure: Failure = {
      ok: false,
      reason: a.reason === 'error' ? 'error' : 'change_failed',
      message: `privileged account ${privileged.username}: ${a.message ?? a.reason}`,
      definite: true,
    };
    return a.observed ? { ...failure, observed: a.observed } : failure;
  }
  const { client } = result.session;
  const redact = redactor(privileged.password, next);
  const run = (command: string, stdin: string) =>
    runCommand(client, command, stdin, c.promptTimeoutMs, ctx.signal, redact);
  try {
    // 1. Does sudo want a password for chpasswd? (-k: cached credentials never decide it.)
    const probe = await run("sudo -n -k -p '' chpasswd", '');
    if (probe.kind !== 'exit')
      return withObserved(notStarted(`sudo probe: ${probe.message}`), result.session);
    const needsPassword = probe.code !== 0;
    if (needsPassword) {
      if (!/password is required/i.test(probe.output)) {
        return withObserved(
          refusal(
            `sudo chpasswd is not allowed for ${privileged.username}: ${probe.output || `exit ${probe.code}`}`,
          ),
          result.session,
        );
      }
      // 2. Is the privileged account's password the one sudo wants?
      const check = await run("sudo -S -k -p '' -v", `${privileged.password}\n`);
      if (check.kind !== 'exit') return withObserved(notStarted(`sudo -v: ${check.message}`), result.session);
      if (check.code !== 0) {
        return withObserved(
          refusal(`sudo refused ${privileged.username}: ${check.output || `exit ${check.code}`}`),
          result.session,
        );
      }
    }
    // 3. The reset itself.
    const line = `${ctx.username}:${next}\n`;
    const reset = await run(
      "sudo -S -k -p '' chpasswd",
      needsPassword ? `${privileged.password}\n${line}` : line,
    );
    if (reset.kind !== 'exit') {
      // The new password was sent: the reset may or may not have happened.
      return withObserved(
        { ok: false, reason: 'error', message: `sudo chpasswd: ${reset.message}` },
        result.session,
      );
    }
    if (reset.code !== 0) {
      // chpasswd applies nothing when any line fails ("changes ignored").
      return withObserved(
        refusal(`sudo chpasswd failed (exit ${reset.code}): ${reset.output || 'no message'}`),
        result.session,
      );
    }
    return withObserved({ ok: true }, result.session);
  } finally {
    client.end();
  }
}

const notStarted = (message: string): Failure => ({ ok: false, reason: 'error', message, definite: true });
const refusal = (message: string): Failure => ({
  ok: false,
  reason: 'change_failed',
  message,
  definite: true,
});

type CommandResult = { kind: 'exit'; code: number; output: string } | { kind: 'lost'; message: string };

/** Runs a command without a PTY, feeding `stdin` then end-of-file; output is redacted and shortened. */
async function runCommand(
  client: Session['client'],
  command: string,
  stdin: string,
  timeoutMs: number,
  signal: AbortSignal,
  redact: (text: string) => string,
): Promise<CommandResult> {
  let channel: ClientChannel;
  try {
    channel = await withTimeout(exec(client, command, false), timeoutMs);
  } catch (err) {
    return { kind: 'lost', message: `cannot start: ${(err as Error).message}` };
  }
  return new Promise((resolve) => {
    let output = '';
    let done = false;
    const finish = (r: CommandResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      channel.close();
      resolve(r);
    };
    const onAbort = () => finish({ kind: 'lost', message: 'aborted' });
    const timer = setTimeout(
      () => finish({ kind: 'lost', message: `no answer within ${timeoutMs} ms` }),
      timeoutMs,
    );
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-2_000);
    };
    channel.on('data', collect);
    channel.stderr.on('data', collect);
    // 'close' carries the exit status (closeStatus), after the output is read.
    channel.on('close', (c: unknown, s: unknown) => {
      const code = closeStatus(c, s)?.code ?? null;
      const text = oneLine(redact(output));
      if (code === null) finish({ kind: 'lost', message: `session closed without an exit status: ${text}` });
      else finish({ kind: 'exit', code, output: text });
    });
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    channel.end(stdin);
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
