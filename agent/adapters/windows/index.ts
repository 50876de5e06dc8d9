import { MAX_PASSWORD_BYTES, type WindowsConnection } from '../../../shared/targets/windows.js';
import type { Observed } from '../../../shared/contracts/gateway.js';
import type { Adapter, AdapterContext, Attempt } from '../types.js';
import { fail, OK, privilegedLoginFailure, scrub, uncertain, withDetail, type Failure } from '../common.js';
import {
  accountArg,
  bareName,
  RPCCLIENT,
  rpcArg,
  startRpcclient,
  where,
  type RpcSession,
} from './rpcclient.js';
import { CHANGE_STATUS, LOGON_STATUS, UNREACHABLE_STATUS } from './status.js';

type Ctx = AdapterContext<WindowsConnection>;

const ACCOUNT = /Account Name: ([^,\n]*), Authority Name: ([^\n]*)\n/;
const CANNOT_CONNECT = /Cannot connect to server\.\s+Error was (NT_STATUS_\w+)/;
const RESULT = /result(?: was)?:? (NT_STATUS_\w+)/;
const DOMAIN_SID = /Domain Sid: (S-1-5-21(?:-\d+){3})\s*\n/;
const LAST_LINES = 3;

/** A signed, authenticated session whose server answers for the pinned account domain. */
interface Open {
  session: RpcSession;
  observed?: Observed;
}

const lastLines = (text: string, secrets: readonly string[]): string =>
  scrub(
    text
      .split('\n')
      .map((l) => l.trim())
      // rpcclient reads PASSWD_FD twice and says the second read was empty: noise.
      .filter(
        (l) =>
          l !== '' && !l.startsWith('Password for [') && !l.startsWith('Error reading password from file'),
      )
      .slice(-LAST_LINES)
      .join(' / '),
    secrets,
  ) || 'no output';

const fromStatus = (
  o: { reason: Failure['reason']; detail?: Failure['detailCode']; what: string },
  message: string,
) => (o.detail === undefined ? fail(o.reason, message) : withDetail(fail(o.reason, message), o.detail));

/**
 * Logs on as `username` (NTLM over SMB 2/3, signing required) and checks who the server says it is:
 * the session's account (a guest session is not the account) and the SID of the account domain it
 * answers for, against the pin. Nothing else is sent before these checks pass.
 */
async function logOn(ctx: Ctx, username: string, password: string, secrets: readonly string[]) {
  const c = ctx.connection;
  // Windows refuses blank passwords over the network; rpcclient would try an anonymous logon.
  if (password === '') {
    return {
      ok: false as const,
      failure: fail('mismatch', `an empty password cannot log on as ${username}`),
    };
  }
  // Longer, rpcclient would log on with the first 128 bytes only: a mismatch that is not one.
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) {
    return {
      ok: false as const,
      failure: fail(
        'error',
        `the password of ${username} is longer than ${MAX_PASSWORD_BYTES} bytes, more than rpcclient can log on with`,
      ),
    };
  }
  const session = startRpcclient(c, accountArg(c, username), password, ctx.signal);
  const failWith = async (f: Failure): Promise<{ ok: false; failure: Failure }> => {
    await session.close();
    return { ok: false, failure: f };
  };
  const hello = await session.ask('getusername', ACCOUNT, c.connectTimeoutMs);
  const all = session.output();
  const notStarted = session.spawnFailure();
  // stdbuf missing (spawn error), or rpcclient missing (stdbuf exits 127).
  if (notStarted !== undefined || (hello.ended?.kind === 'exited' && hello.ended.code === 127)) {
    return failWith(
      withDetail(
        fail(
          'error',
          `cannot run stdbuf and ${RPCCLIENT} (Samba's smbclient package): ${notStarted ?? lastLines(all, secrets)}`,
        ),
        'tool_missing',
      ),
    );
  }
  if (hello.ended?.kind === 'aborted') return failWith(fail('unreachable', `logon to ${where(c)} aborted`));
  if (hello.ended?.kind === 'timeout') {
    return failWith(
      fail(
        'unreachable',
        `no SMB logon to ${where(c)} within ${c.connectTimeoutMs} ms: ${lastLines(all, secrets)}`,
      ),
    );
  }
  const refused = CANNOT_CONNECT.exec(all)?.[1];
  if (refused !== undefined) {
    const said = lastLines(all, secrets);
    // With signing required, a guest session (what a server gives an unknown account when it maps
    // bad users to guest) cannot be signed: the client refuses it.
    if (refused === 'NT_STATUS_ACCESS_DENIED' && /signature/i.test(all)) {
      return failWith(
        withDetail(
          fail('mismatch', `${where(c)} offered a guest session, not ${username}'s: ${said}`),
          'guest_session',
        ),
      );
    }
    const logon = LOGON_STATUS[refused];
    if (logon)
      return failWith(
        fromStatus(logon, `logon as ${username} refused by ${where(c)}: ${logon.what} (${refused})`),
      );
    if (UNREACHABLE_STATUS.has(refused))
      return failWith(fail('unreachable', `cannot reach ${where(c)}: ${refused}`));
    return failWith(fail('error', `logon as ${username} at ${where(c)} failed: ${said}`));
  }
  const account = ACCOUNT.exec(hello.text);
  if (!account) return failWith(fail('error', `${where(c)}: unexpected answer: ${lastLines(all, secrets)}`));
  if (account[1]!.trim().toLowerCase() !== bareName(username).toLowerCase()) {
    return failWith(
      withDetail(
        fail(
          'mismatch',
          `${where(c)} logged the session on as ${account[2]}\\${account[1]}, not as ${username}`,
        ),
        'guest_session',
      ),
    );
  }
  const lsa = await session.ask(
    'lsaquery 5',
    new RegExp(`${DOMAIN_SID.source}|${RESULT.source}|Could not initialise`),
    c.operationTimeoutMs,
  );
  const sid = DOMAIN_SID.exec(lsa.text)?.[1];
  const pinned = c.accountDomainSid;
  if (sid === undefined) {
    if (lsa.ended?.kind === 'timeout' || lsa.ended?.kind === 'aborted') {
      return failWith(fail('unreachable', `${where(c)} did not answer the account domain query in time`));
    }
    // Some hosts do not tell every account their SID: only a pin makes that a failure.
    if (pinned !== undefined) {
      return failWith(
        fail(
          'error',
          `${where(c)} did not say which account domain it serves, so the pin cannot be checked: ${lastLines(lsa.text, secrets)}`,
        ),
      );
    }
    return { ok: true as const, open: { session } satisfies Open };
  }
  if (pinned !== undefined && pinned !== sid) {
    const failure = withDetail(
      fail('error', `${where(c)} answers for account domain ${sid}, not the pinned ${pinned}`),
      'account_domain_changed',
    );
    return failWith({ ...failure, observed: { accountDomainSid: sid } });
  }
  const open: Open = { session };
  if (pinned === undefined) open.observed = { accountDomainSid: sid };
  return { ok: true as const, open };
}

const withObserved = <A extends Attempt>(a: A, observed: Observed | undefined): A =>
  observed ? { ...a, observed } : a;

/**
 * The `windows` adapter: accounts of Windows hosts (local accounts, or domain accounts through a
 * domain controller) over SMB with Samba's rpcclient. verify = an NTLM logon (signed SMB session)
 * as the account; change = SAMR: the account's own password change (SamrUnicodeChangePasswordUser2,
 * rpcclient's chgpasswd2), or, through the target's privileged account, a password set
 * (SamrSetInformationUser2 level 26, rpcclient's setuserinfo2, as `net rpc password` does).
 */
export const windowsAdapter: Adapter<WindowsConnection> = {
  kind: 'windows',
  async verify(ctx, password) {
    const secrets = [password];
    const opened = await logOn(ctx, ctx.username, password, secrets);
    if (!opened.ok) return opened.failure;
    await opened.open.session.close();
    return withObserved(OK, opened.open.observed);
  },
  async change(ctx, current, next) {
    const c = ctx.connection;
    if (/[\x00-\x1f\x7f]/.test(next) || Buffer.byteLength(next, 'utf8') > MAX_PASSWORD_BYTES) {
      return fail(
        'change_failed',
        `the new password contains control characters or is longer than ${MAX_PASSWORD_BYTES} bytes, which rpcclient cannot take`,
      );
    }
    const viaAdmin = c.changeVia === 'privileged';
    const admin = ctx.privileged;
    if (viaAdmin && !admin)
      return fail('change_failed', 'no privileged credential was handed out for this change');
    const secrets = [current, next, ...(admin ? [admin.password] : [])];
    const login = viaAdmin ? admin! : { username: ctx.username, password: current };
    const opened = await logOn(ctx, login.username, login.password, secrets);
    if (!opened.ok) return viaAdmin ? privilegedLoginFailure(opened.failure, login.username) : opened.failure;
    const { session, observed } = opened.open;
    try {
      const user = rpcArg(bareName(ctx.username));
      const command = viaAdmin
        ? `setuserinfo2 ${user} 26 ${rpcArg(next)}`
        : `chgpasswd2 ${user} ${rpcArg(current)} ${rpcArg(next)}`;
      if (ctx.signal.aborted)
        return withObserved(fail('unreachable', 'aborted before the change was sent'), observed);
      // The command, then getusername, and the end of input: getusername's answer marks the end
      // of the change's (which says nothing when it succeeds).
      const sent = await session.ask(`${command}\ngetusername`, ACCOUNT, c.operationTimeoutMs, true);
      const result = RESULT.exec(sent.text)?.[1];
      if (sent.ended !== undefined && !ACCOUNT.test(sent.text)) {
        return withObserved(
          uncertain(
            `${where(c)}: no answer after the change was sent (${sent.ended.kind}): ${lastLines(sent.text, secrets)}`,
          ),
          observed,
        );
      }
      if (result === undefined) {
        if (/rpcclient: |Usage:/.test(sent.text)) {
          return withObserved(
            fail('error', `${RPCCLIENT} did not take the command: ${lastLines(sent.text, secrets)}`),
            observed,
          );
        }
        ctx.log.debug({ via: c.changeVia }, 'password changed');
        return withObserved(OK, observed);
      }
      const known = CHANGE_STATUS[result];
      if (known)
        return withObserved(
          fromStatus(known, `${where(c)} refused the change: ${known.what} (${result})`),
          observed,
        );
      if (UNREACHABLE_STATUS.has(result)) {
        return withObserved(
          uncertain(`${where(c)}: the connection failed during the change (${result})`),
          observed,
        );
      }
      return withObserved(fail('change_failed', `${where(c)} refused the change (${result})`), observed);
    } finally {
      await session.close();
    }
  },
};
