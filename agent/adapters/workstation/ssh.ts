import { createHash } from 'node:crypto';
import { Client, type AuthenticationType, type ClientChannel, type PseudoTtyOptions } from 'ssh2';
import type { Observed } from '../../../shared/contracts/gateway.js';
import { normalizeHostKey, type WorkstationConnection } from '../../../shared/targets/workstation.js';
import type { Attempt } from '../types.js';

type Failure = Extract<Attempt, { ok: false }>;

/** An SSH fingerprint as OpenSSH prints it: SHA256:<unpadded base64 of the key blob>. */
export const fingerprintOf = (keyBlob: Buffer): string =>
  `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;

/** Connection errors (before authentication) that mean the server was not reached. */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ETIMEDOUT',
  'EPIPE',
]);

/**
 * What sshd (through PAM) tells a client whose password was right but whose account may not be
 * used: sent as an authentication banner after the password, e.g. "Your account has expired;
 * please contact your system administrator." (then the server disconnects) or "You are required
 * to change your password immediately (administrator enforced)." (a forced change at login).
 */
const ACCOUNT_REFUSED =
  /account (has |is )?(expired|locked|disabled)|password (has )?expired|required to change your password|password change required|must change your password/i;

export interface Session {
  client: Client;
  /** The host key seen, when the connection had none pinned (trust on first use). */
  observed?: Observed;
}

export type Login = { ok: true; session: Session } | { ok: false; attempt: Failure };

/** Where we are, for messages: never includes a password. */
const where = (c: WorkstationConnection): string => `${c.host}:${c.port}`;

/**
 * Logs in with a password only (no keys, no agent, no keyboard-interactive), checking the host key
 * against the pin. Resolves with an open session or with the failure the server's answer maps to;
 * never rejects.
 */
export function login(
  connection: WorkstationConnection,
  username: string,
  password: string,
  signal: AbortSignal,
): Promise<Login> {
  return new Promise((resolve) => {
    const client = new Client();
    const pinned = connection.hostKeySha256 ? normalizeHostKey(connection.hostKeySha256) : undefined;
    let seen: string | undefined;
    let passwordSent = false;
    let serverNotice = '';
    let settled = false;
    let hostKeyChanged: string | undefined;
    let asked = 0;
    const observed = (): Observed | undefined =>
      pinned === undefined && seen !== undefined ? { hostKeySha256: seen } : undefined;
    const withObserved = (attempt: Failure): Failure => {
      const o = observed();
      return o ? { ...attempt, observed: o } : attempt;
    };
    const finish = (result: Login) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      if (!result.ok) client.end();
      resolve(result);
    };
    let secondFactor: AuthenticationType[] | undefined;
    const fail = (reason: Failure['reason'], message: string) =>
      finish({ ok: false, attempt: withObserved({ ok: false, reason, message, definite: true }) });
    const onAbort = () => {
      fail('unreachable', `login to ${where(connection)} aborted`);
      client.destroy();
    };
    // ssh2's readyTimeout covers the handshake; this also covers a server that never answers auth.
    const timer = setTimeout(() => {
      fail('unreachable', `no SSH login to ${where(connection)} within ${connection.connectTimeoutMs} ms`);
      client.destroy();
    }, connection.connectTimeoutMs + 1_000);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });

    client.on('banner', (message: string) => {
      // A banner before the password (the server's Banner, a legal notice) says nothing about the account.
      if (passwordSent) serverNotice += message;
    });
    client.on('ready', () => {
      if (!passwordSent) {
        fail('error', `${where(connection)} let the account in without a password: cannot verify it`);
        return;
      }
      if (ACCOUNT_REFUSED.test(serverNotice)) {
        fail('locked_or_disabled', `account refused by ${where(connection)}: ${oneLine(serverNotice)}`);
        return;
      }
      const o = observed();
      finish({ ok: true, session: o ? { client, observed: o } : { client } });
    });
    client.on('error', (err: Error & { level?: string; code?: string }) => {
      if (hostKeyChanged !== undefined) {
        // Refused, never accepted silently: reason `error` (the reasons are a fixed list) with its own
        // detail code, and the key seen, for the coordinator to audit next to the pinned one.
        finish({
          ok: false,
          attempt: {
            ok: false,
            reason: 'error',
            message: hostKeyChanged,
            definite: true,
            detailCode: 'host_key_changed',
            ...(seen !== undefined ? { observed: { hostKeySha256: seen } } : {}),
          },
        });
      } else if (err.level === 'client-authentication' && secondFactor !== undefined) {
        // The password was accepted (partial success) but the server wants more: not a mismatch.
        finish({
          ok: false,
          attempt: withObserved({
            ok: false,
            reason: 'error',
            message: `${where(connection)} requires another factor after the password (${secondFactor.join(', ') || 'no method offered'}): password-only logins cannot verify this account`,
            definite: true,
            detailCode: 'second_factor_required',
          }),
        });
      } else if (err.level === 'client-authentication') {
        if (ACCOUNT_REFUSED.test(serverNotice)) {
          fail('locked_or_disabled', `account refused by ${where(connection)}: ${oneLine(serverNotice)}`);
        } else if (!passwordSent) {
          fail('error', `${where(connection)} does not accept password logins`);
        } else {
          fail('mismatch', `password refused by ${where(connection)}`);
        }
      } else if (err.level === 'client-timeout') {
        fail(
          'unreachable',
          `no SSH handshake with ${where(connection)} within ${connection.connectTimeoutMs} ms`,
        );
      } else if (
        err.level === 'client-socket' ||
        (err.code !== undefined && UNREACHABLE_CODES.has(err.code))
      ) {
        fail('unreachable', `cannot reach ${where(connection)}: ${err.code ?? err.message}`);
      } else {
        fail('error', `SSH error with ${where(connection)}: ${err.message}`);
      }
    });
    client.on('close', () => {
      if (ACCOUNT_REFUSED.test(serverNotice)) {
        // sshd sends PAM's account message and disconnects (e.g. an expired account).
        fail('locked_or_disabled', `account refused by ${where(connection)}: ${oneLine(serverNotice)}`);
      } else if (passwordSent) {
        fail('unreachable', `${where(connection)} closed the connection during login`);
      } else {
        fail('unreachable', `${where(connection)} closed the connection before login`);
      }
    });

    client.connect({
      host: connection.host,
      port: connection.port,
      username,
      readyTimeout: connection.connectTimeoutMs,
      keepaliveInterval: 0,
      tryKeyboard: false,
      agent: undefined,
      hostVerifier: (key: Buffer): boolean => {
        seen = fingerprintOf(key);
        if (pinned !== undefined && pinned !== seen) {
          hostKeyChanged = `host key changed: expected ${pinned}, got ${seen}`;
          return false;
        }
        return true;
      },
      // 'none' first, so the server's pre-login banner arrives before the password is sent; then the
      // password once: a refused password is never retried on the same connection.
      authHandler: (
        methodsLeft: AuthenticationType[] | null,
        partial: boolean | null,
        next: (method: { type: 'none' | 'password'; username: string; password?: string } | false) => void,
      ) => {
        asked += 1;
        if (asked === 1) return next({ type: 'none', username });
        if (asked === 2 && (methodsLeft === null || methodsLeft.includes('password'))) {
          passwordSent = true;
          return next({ type: 'password', username, password });
        }
        // Asked again right after the password with partial success: it was right, and another
        // method is required as well (AuthenticationMethods password,publickey, a second factor).
        if (passwordSent && partial === true) secondFactor = methodsLeft ?? [];
        return next(false);
      },
    } as Parameters<Client['connect']>[0]);
  });
}

export const oneLine = (text: string, max = 200): string => {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
};

/** How a remote command ended: its exit code, or the signal that ended it. */
export type ExitStatus = { code: number; signal?: undefined } | { code: null; signal: string };

/**
 * The command's exit status as an exec channel's 'close' event carries it (ssh2 keeps what the
 * server's exit-status or exit-signal said and passes it on), or undefined when the session closed
 * without one. Read it there, not only from 'exit': a listener attached after awaiting exec() misses
 * 'exit' when the server's whole answer (output, exit status, close) comes in the same read as the
 * exec's confirmation, as it does on a loaded machine; 'close' comes only once the output is read.
 */
export function closeStatus(code: unknown, signal: unknown): ExitStatus | undefined {
  if (typeof code === 'number') return { code };
  if (code === null && typeof signal === 'string') return { code: null, signal };
  return undefined;
}

/** Opens an exec channel; rejects with the server's refusal. Read its exit status with closeStatus. */
export function exec(client: Client, command: string, pty: boolean): Promise<ClientChannel> {
  const ptyOptions: PseudoTtyOptions = { term: 'dumb', cols: 200, rows: 24, modes: { ECHO: 0 } };
  return new Promise((resolve, reject) => {
    client.exec(command, pty ? { pty: ptyOptions } : {}, (err, channel) => {
      if (err) reject(err);
      else resolve(channel);
    });
  });
}
