import type { DirectoryConnection } from '../../../shared/targets/directory.js';
import type { Adapter, AdapterContext } from '../types.js';
import { changeActiveDirectory, verifyActiveDirectory } from './active-directory.js';
import { changeLdap, verifyLdap } from './openldap.js';

type Ctx<F extends DirectoryConnection['flavour']> = AdapterContext<
  Extract<DirectoryConnection, { flavour: F }>
>;

const isAd = (ctx: AdapterContext<DirectoryConnection>): ctx is Ctx<'active_directory'> =>
  ctx.connection.flavour === 'active_directory';

/**
 * The `directory` adapter (ldapts): Active Directory and LDAP directories such as OpenLDAP, over
 * LDAPS or StartTLS with the server's certificate pinned (a CA, a fingerprint, or the first one
 * seen). verify = a simple bind as the account; change = AD's unicodePwd modify or the Password
 * Modify extended operation, as the account or through the target's privileged account.
 * Passwords travel only inside the encrypted session, never in a message or a log line.
 */
export const directoryAdapter: Adapter<DirectoryConnection> = {
  kind: 'directory',
  verify: (ctx, password) =>
    isAd(ctx) ? verifyActiveDirectory(ctx, password) : verifyLdap(ctx as Ctx<'ldap'>, password),
  change: (ctx, current, next) =>
    isAd(ctx) ? changeActiveDirectory(ctx, current, next) : changeLdap(ctx as Ctx<'ldap'>, current, next),
};
