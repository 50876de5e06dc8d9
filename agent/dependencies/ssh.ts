import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import type { Client, SFTPWrapper, Stats } from 'ssh2';
import type { CommandDependency, FileDependency } from '../../shared/contracts/dependencies.js';
import { WorkstationConnectionSchema } from '../../shared/targets/workstation.js';
import { closeStatus, exec, login, oneLine, type ExitStatus } from '../adapters/workstation/ssh.js';
import type { DependencyLogin, Step } from './types.js';
import { placePassword } from './file-edit.js';

/*
 * The dependencies reached over SSH (docs/adapters/dependencies.md): `file` (SFTP: read, write a
 * temporary file beside it with the same mode, owner and group, rename it over the file) and
 * `command` (argv quoted word by word, the password on standard input only). The login account's
 * host key is checked against its target's pin as for the workstation adapter.
 */

const p = <T>(fn: (cb: (err: Error | null | undefined, value: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));

/** Logs in as the login account and runs `work` with the session; always closes it. */
async function withSsh(
  login_: DependencyLogin,
  signal: AbortSignal,
  work: (c: Client) => Promise<Step>,
): Promise<Step> {
  const connection = WorkstationConnectionSchema.parse(login_.target.connection);
  const result = await login(connection, login_.username, login_.password, signal);
  if (!result.ok)
    return {
      ok: false,
      message: `SSH login as ${login_.username}: ${result.attempt.message ?? result.attempt.reason}`,
    };
  const { client } = result.session;
  try {
    return await work(client);
  } catch (err) {
    return { ok: false, message: oneLine((err as Error).message ?? String(err)) };
  } finally {
    client.end();
  }
}

const sftpOf = (client: Client): Promise<SFTPWrapper> => p((cb) => client.sftp(cb));

/** Reachable and writable: the file exists, can be opened for writing, holds the place of the password, and its folder takes a new file. */
export function checkFile(d: FileDependency, l: DependencyLogin, signal: AbortSignal): Promise<Step> {
  return withSsh(l, signal, async (client) => {
    const sftp = await sftpOf(client);
    const stats = await p<Stats>((cb) => sftp.stat(d.path, cb)).catch((err: Error) => {
      throw new Error(`${d.path}: ${err.message}`);
    });
    if (!stats.isFile()) return { ok: false, message: `${d.path} is not a regular file` };
    const handle = await p<Buffer>((cb) => sftp.open(d.path, 'r+', cb)).catch(() => {
      throw new Error(`${d.path} is not writable by ${l.username}`);
    });
    await p<void>((cb) => sftp.close(handle, (err) => cb(err, undefined)));
    const text = (await p<Buffer>((cb) => sftp.readFile(d.path, cb))).toString('utf8');
    const placed = placePassword(d, text, 'x');
    if (!placed.ok) return { ok: false, message: `${d.path}: ${placed.message}` };
    const probe = tempName(d.path);
    await p<void>((cb) => sftp.writeFile(probe, '', { mode: 0o600 }, (err) => cb(err, undefined))).catch(
      () => {
        throw new Error(`${posix.dirname(d.path)} is not writable by ${l.username}`);
      },
    );
    await p<void>((cb) => sftp.unlink(probe, (err) => cb(err, undefined)));
    return { ok: true };
  });
}

const tempName = (path: string) =>
  `${posix.dirname(path)}/.${posix.basename(path)}.sync-${randomBytes(6).toString('hex')}`;

/** Replaces the password in the file: temporary file (same mode, owner, group) renamed over it; optional backup. */
export function pushFile(
  d: FileDependency,
  l: DependencyLogin,
  password: string,
  signal: AbortSignal,
): Promise<Step> {
  return withSsh(l, signal, async (client) => {
    const sftp = await sftpOf(client);
    const stats = await p<Stats>((cb) => sftp.stat(d.path, cb));
    const text = (await p<Buffer>((cb) => sftp.readFile(d.path, cb))).toString('utf8');
    const placed = placePassword(d, text, password);
    if (!placed.ok) return { ok: false, message: `${d.path}: ${placed.message}` };
    const mode = stats.mode & 0o7777;
    const write = async (path: string, content: string) => {
      await p<void>((cb) => sftp.writeFile(path, content, { mode }, (err) => cb(err, undefined)));
      // writeFile's mode is masked by the server's umask: set it exactly, then the owner.
      await p<void>((cb) => sftp.chmod(path, mode, (err) => cb(err, undefined)));
      await p<void>((cb) => sftp.chown(path, stats.uid, stats.gid, (err) => cb(err, undefined)));
    };
    const rename = (from: string, to: string) =>
      p<void>((cb) => sftp.ext_openssh_rename(from, to, (err) => cb(err, undefined)));
    if (d.backup) {
      const tmp = tempName(`${d.path}.bak`);
      await write(tmp, text);
      await rename(tmp, `${d.path}.bak`);
    }
    const tmp = tempName(d.path);
    try {
      await write(tmp, placed.text);
      await rename(tmp, d.path);
    } catch (err) {
      await p<void>((cb) => sftp.unlink(tmp, (e) => cb(e, undefined))).catch(() => undefined);
      throw err;
    }
    return { ok: true };
  });
}

/** A word quoted for the remote shell: the command's argv reaches it unchanged. */
const quote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;

/** Reachable: the login works and the program is found. */
export function checkCommand(d: CommandDependency, l: DependencyLogin, signal: AbortSignal): Promise<Step> {
  return withSsh(l, signal, async (client) => {
    const { status } = await runRemote(
      client,
      `command -v -- ${quote(d.argv[0]!)} >/dev/null`,
      '',
      d.timeoutMs,
    );
    if (status === 'timeout' || status === undefined || status.code === null)
      return { ok: false, message: `${d.argv[0]}: its check (command -v) ${ending(status, d.timeoutMs)}` };
    return status.code === 0
      ? { ok: true }
      : { ok: false, message: `${d.argv[0]} not found for ${l.username}` };
  });
}

/** Runs the command with the password on its standard input (or read from it into the named variable). */
export function pushCommand(
  d: CommandDependency,
  l: DependencyLogin,
  password: string,
  signal: AbortSignal,
): Promise<Step> {
  return withSsh(l, signal, async (client) => {
    const argv = d.argv.map(quote).join(' ');
    const command =
      d.passwordVia === 'env'
        ? `IFS= read -r ${d.env} && export ${d.env} && exec ${argv} </dev/null`
        : `exec ${argv}`;
    const { status, stderr } = await runRemote(client, command, `${password}\n`, d.timeoutMs);
    if (status !== 'timeout' && status?.code === 0) return { ok: true };
    const last = stderr.trim().split('\n').at(-1) ?? '';
    return {
      ok: false,
      message: `${d.argv[0]} ${ending(status, d.timeoutMs)}${last ? `: ${oneLine(last)}` : ''}`,
    };
  });
}

/** How a remote command ended; `timeout`: it was still running at the deadline (its channel closed). */
type Ending = ExitStatus | 'timeout' | undefined;

const ending = (status: Ending, timeoutMs: number): string =>
  status === 'timeout'
    ? `did not end within ${timeoutMs} ms`
    : status === undefined
      ? 'ended without an exit status (the SSH session closed)'
      : status.code === null
        ? `was ended by ${status.signal}`
        : `exited ${status.code}`;

async function runRemote(
  client: Client,
  command: string,
  stdin: string,
  timeoutMs: number,
): Promise<{ status: Ending; stderr: string }> {
  const channel = await exec(client, command, false);
  return new Promise((resolve) => {
    let stderr = '';
    const end = (status: Ending) => {
      clearTimeout(timer);
      resolve({ status, stderr });
    };
    const timer = setTimeout(() => {
      channel.close();
      end('timeout');
    }, timeoutMs);
    channel.stderr.on('data', (b: Buffer) => {
      if (stderr.length < 4000) stderr += b.toString('utf8');
    });
    channel.on('data', () => undefined);
    channel.on('exit', (code: unknown, signal: unknown) => end(closeStatus(code, signal)));
    // The exit status again, for an 'exit' that came before the listener above (closeStatus).
    channel.on('close', (code: unknown, signal: unknown) => end(closeStatus(code, signal)));
    channel.end(stdin);
  });
}
