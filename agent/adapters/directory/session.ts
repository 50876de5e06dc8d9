import type { Client } from 'ldapts';
import type { Observed } from '../../../shared/contracts/gateway.js';
import type { DirectoryConnection } from '../../../shared/targets/directory.js';
import type { AdapterContext, Attempt } from '../types.js';
import { fail, type Failure } from '../common.js';
import { bindFailure } from './errors.js';
import { PasswordPolicyControl } from './ldap-values.js';
import { openTransport, where, type Transport } from './transport.js';

type Ctx = AdapterContext<DirectoryConnection>;

/** A bound LDAP session; `observed` is the certificate seen when nothing pinned it yet. */
export interface Bound {
  client: Client;
  observed?: Observed;
}

export type BindResult = { ok: true; session: Bound } | { ok: false; failure: Failure };

/** `attempt` with what the session observed (for the coordinator to pin on first use). */
export const withObserved = <A extends Attempt>(attempt: A, observed: Observed | undefined): A =>
  observed ? { ...attempt, observed } : attempt;

/**
 * Opens a secured, pinned transport, binds as `bindName` with `password` (a simple bind) and runs
 * `work` in the session, then unbinds. A refused bind maps to its reason and detail code. The
 * password policy control rides along with the bind on `ldap` directories, so an account that is
 * locked, expired or must change its password says so. Never rejects.
 */
export async function inSession(
  ctx: Ctx,
  bindName: string,
  password: string,
  secrets: readonly string[],
  work: (session: Bound) => Promise<Attempt>,
  /** What a failure before `work` becomes (a privileged account's own failures are not the credential's). */
  beforeWork: (f: Failure) => Failure = (f) => f,
): Promise<Attempt> {
  const c = ctx.connection;
  // An empty password makes a simple bind an anonymous one, which most servers accept.
  if (password === '') {
    return beforeWork(
      fail('mismatch', 'an empty password cannot be checked with a simple bind (it would bind anonymously)'),
    );
  }
  const opened = await openTransport(c, ctx.signal);
  if (!opened.ok) return beforeWork(opened.failure);
  const { transport } = opened;
  const onAbort = () => transport.destroy();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  const session: Bound = { client: transport.client };
  if (transport.observed) session.observed = transport.observed;
  try {
    const bound = await bind(c, transport, bindName, password, secrets);
    if (!bound.ok) return withObserved(beforeWork(bound.failure), transport.observed);
    if (ctx.signal.aborted)
      return withObserved(fail('unreachable', `aborted at ${where(c)}`), transport.observed);
    return withObserved(await work(session), transport.observed);
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    await close(transport, c.operationTimeoutMs);
  }
}

async function bind(
  c: DirectoryConnection,
  transport: Transport,
  bindName: string,
  password: string,
  secrets: readonly string[],
): Promise<{ ok: true } | { ok: false; failure: Failure }> {
  const ppolicy = c.flavour === 'ldap' ? new PasswordPolicyControl() : undefined;
  try {
    await transport.client.bind(bindName, password, ppolicy);
  } catch (err) {
    return { ok: false, failure: bindFailure(err, bindName, secrets, ppolicy?.error) };
  }
  // OpenLDAP lets an account whose password was reset bind, and allows it nothing but a change.
  if (ppolicy?.error === 'changeAfterReset' || ppolicy?.error === 'passwordExpired') {
    return {
      ok: false,
      failure: {
        ...fail('locked_or_disabled', `bind as ${bindName}: the server says ${ppolicy.error}`),
        detailCode: ppolicy.error === 'changeAfterReset' ? 'password_must_change' : 'password_expired',
      },
    };
  }
  return { ok: true };
}

/** A polite unbind, bounded in time; the sockets are destroyed either way. */
async function close(transport: Transport, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    transport.client.unbind().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.min(timeoutMs, 2_000));
    }),
  ]);
  clearTimeout(timer);
  transport.destroy();
}
