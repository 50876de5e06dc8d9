import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WindowsConnection } from '../../../shared/targets/windows.js';
import { hostPort } from '../../../shared/targets/host.js';

/**
 * One `rpcclient` session to a Windows (or Samba) host: Samba's own DCE/RPC client over SMB, run
 * with arguments only (never a shell). The logon password goes through a pipe of its own (file
 * descriptor 3, named by PASSWD_FD: Samba's tools read the password from it), closed once written;
 * commands go on standard input one line at a time, each sent after the answer to the one before
 * (`stdbuf` makes rpcclient write its answers line by line). Passwords a command carries (a change)
 * are on that line, never on a command line. The process has no terminal (a new session) and an
 * environment of PATH, LC_ALL, HOME and PASSWD_FD only; the client configuration it reads is
 * written to a private folder (0700) and removed when the session ends.
 */

export const RPCCLIENT = 'rpcclient';
const STDBUF = 'stdbuf';
/** Longest wait, after rpcclient exits, for the rest of its output. */
const OUTPUT_AFTER_EXIT_MS = 1_000;

export type Ended = { kind: 'exited'; code: number | null } | { kind: 'timeout' } | { kind: 'aborted' };

export interface RpcSession {
  /**
   * Sends `line` and waits, up to `timeoutMs`, until the output written after it matches `until`.
   * Resolves with that output, or with why it ended without a match. rpcclient reads its input
   * buffered but waits for more only when the descriptor is readable: a line sent while another is
   * still unread sits in its buffer until end of input. So only the `last` line may hold several
   * commands; it ends the input, and rpcclient runs them all and quits.
   */
  ask(
    line: string,
    until: RegExp,
    timeoutMs: number,
    last?: boolean,
  ): Promise<{ text: string; ended?: Ended }>;
  /** Everything written so far. */
  output(): string;
  /** Why the program could not be started (e.g. ENOENT), if it could not. */
  spawnFailure(): string | undefined;
  /** Quits, kills what is left and removes the configuration folder. */
  close(): Promise<void>;
}

/** How the adapter names the account to rpcclient: `DOMAIN\user` or the user alone. */
export const accountArg = (c: WindowsConnection, username: string): string =>
  c.domain !== undefined && !username.includes('\\') ? `${c.domain}\\${username}` : username;

/** The account's name without a domain (what the server reports for the session). */
export const bareName = (username: string): string =>
  username.slice(username.lastIndexOf('\\') + 1).split('@')[0]!;

/** The client configuration: SMB 2/3 only, NTLMv2, signing required, its state in `dir`. */
function clientConf(c: WindowsConnection, dir: string): string {
  return [
    '[global]',
    `  workgroup = ${c.domain ?? 'WORKGROUP'}`,
    '  client min protocol = SMB2_02',
    '  client signing = required',
    '  client ipc signing = required',
    ...(c.protection === 'encrypt' ? ['  client smb encrypt = required'] : []),
    '  client use kerberos = off',
    '  client ntlmv2 auth = yes',
    '  client lanman auth = no',
    '  client plaintext auth = no',
    '  disable netbios = yes',
    '  name resolve order = host',
    `  cache directory = ${dir}`,
    `  lock directory = ${dir}`,
    `  state directory = ${dir}`,
    `  private dir = ${dir}`,
    `  ncalrpc dir = ${dir}`,
    '  log level = 0',
    '',
  ].join('\n');
}

/**
 * An argument of an rpcclient command line, as its parser (popt) reads it: whitespace, quotes and
 * backslashes each behind a backslash; an empty one as "".
 */
export const rpcArg = (value: string): string =>
  value === '' ? '""' : value.replace(/[\s"'\\]/g, (ch) => `\\${ch}`);

/** Starts rpcclient as `account` and hands it the password (through its own pipe). */
export function startRpcclient(
  c: WindowsConnection,
  account: string,
  password: string,
  signal: AbortSignal,
): RpcSession {
  const dir = mkdtempSync(join(tmpdir(), 'pws-rpc-'));
  const conf = join(dir, 'smb.conf');
  writeFileSync(conf, clientConf(c, dir), { mode: 0o600 });
  const child: ChildProcess = spawn(
    STDBUF,
    ['-oL', '-eL', RPCCLIENT, '-s', conf, '-p', String(c.port), '-U', account, c.host],
    {
      // A new session and process group: no controlling terminal to prompt on, killed as a group.
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', HOME: dir, PASSWD_FD: '3' },
    },
  );
  let text = '';
  const waiters = new Set<() => void>();
  let ended: Ended | undefined;
  const notify = () => {
    for (const w of [...waiters]) w();
  };
  const collect = (chunk: Buffer) => {
    text = (text + chunk.toString('utf8')).slice(-64_000);
    notify();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  child.stdin?.on('error', () => undefined);
  let spawnFailure: string | undefined;
  child.once('error', (err: NodeJS.ErrnoException) => {
    spawnFailure = err.code ?? err.message;
    ended ??= { kind: 'exited', code: null };
    notify();
  });
  // Output may still be on its way when rpcclient exits: waiters decide once both of its output
  // pipes are closed (all it wrote read), or OUTPUT_AFTER_EXIT_MS after the exit at the latest.
  const open = new Set([child.stdout, child.stderr].filter((s) => s !== null));
  let exit: { code: number | null } | undefined;
  let exitTimer: NodeJS.Timeout | undefined;
  const settle = () => {
    if (exit === undefined) return;
    clearTimeout(exitTimer);
    ended ??= { kind: 'exited', code: exit.code };
    notify();
  };
  for (const stream of open) {
    stream.once('close', () => {
      open.delete(stream);
      if (open.size === 0) settle();
    });
  }
  child.once('exit', (code) => {
    exit = { code };
    if (open.size === 0) settle();
    else exitTimer = setTimeout(settle, OUTPUT_AFTER_EXIT_MS);
  });
  const kill = () => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  };
  const onAbort = () => {
    ended ??= { kind: 'aborted' };
    kill();
    notify();
  };
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) onAbort();
  const passwordPipe = child.stdio[3] as NodeJS.WritableStream & { on(e: 'error', f: () => void): void };
  passwordPipe?.on('error', () => undefined);
  passwordPipe?.end(password);

  const session: RpcSession = {
    ask(line, until, timeoutMs, last = false) {
      const from = text.length;
      if (ended === undefined) {
        if (last) child.stdin?.end(`${line}\n`);
        else child.stdin?.write(`${line}\n`);
      }
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          ended ??= { kind: 'timeout' };
          kill();
          done({ text: text.slice(from), ended: { kind: 'timeout' } });
        }, timeoutMs);
        const check = () => {
          const after = text.slice(from);
          if (until.test(after)) return done({ text: after });
          if (ended !== undefined) return done({ text: after, ended });
        };
        const done = (r: { text: string; ended?: Ended }) => {
          clearTimeout(timer);
          waiters.delete(check);
          resolve(r);
        };
        waiters.add(check);
        check();
      });
    },
    output: () => text,
    spawnFailure: () => spawnFailure,
    async close() {
      signal.removeEventListener('abort', onAbort);
      if (ended === undefined) {
        if (child.stdin?.writableEnded === false) child.stdin.end('quit\n');
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 2_000);
          child.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
          if (child.exitCode !== null) {
            clearTimeout(t);
            resolve();
          }
        });
      }
      kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return session;
}

export const where = (c: WindowsConnection): string => `smb://${hostPort(c.host, c.port)}`;
