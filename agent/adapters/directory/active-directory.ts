import { AndFilter, Attribute, Change, EqualityFilter, type Client } from 'ldapts';
import type { ActiveDirectoryConnection } from '../../../shared/targets/directory.js';
import { isDn } from '../../../shared/targets/dn.js';
import type { AdapterContext, Attempt } from '../types.js';
import { fail, OK, privilegedLoginFailure, withDetail, type Failure } from '../common.js';
import { changeFailure, serverText } from './errors.js';
import { unicodePwd } from './ldap-values.js';
import { inSession } from './session.js';

type Ctx = AdapterContext<ActiveDirectoryConnection>;

/**
 * The name a simple bind uses for `username`: a UPN (`svc@corp.example`), a down-level name
 * (`CORP\svc`) or a DN as given; a bare sAMAccountName as `<domain>\<name>`.
 */
export function bindNameOf(c: ActiveDirectoryConnection, username: string): string | Failure {
  if (username.includes('@') || username.includes('\\') || isDn(username)) return username;
  if (c.domain !== undefined) return `${c.domain}\\${username}`;
  return fail(
    'error',
    `"${username}" is neither a UPN (name@domain), a DOMAIN\\name nor a DN, and the target has no domain to bind it with`,
  );
}

/** The account's entry: its DN as given, or found by userPrincipalName / sAMAccountName. */
async function entryOf(
  client: Client,
  c: ActiveDirectoryConnection,
  username: string,
  secrets: readonly string[],
) {
  if (!username.includes('@') && !username.includes('\\') && isDn(username)) return username;
  try {
    let base = c.baseDn;
    if (base === undefined) {
      const root = await client.search('', { scope: 'base', attributes: ['defaultNamingContext'] });
      const value = root.searchEntries[0]?.defaultNamingContext;
      base = typeof value === 'string' ? value : undefined;
      if (base === undefined)
        return fail('error', "the server names no defaultNamingContext: set the target's baseDn");
    }
    const upn = username.includes('@');
    const name = upn ? username : username.slice(username.lastIndexOf('\\') + 1);
    const found = await client.search(base, {
      scope: 'sub',
      filter: new AndFilter({
        filters: [
          new EqualityFilter({ attribute: 'objectClass', value: 'user' }),
          new EqualityFilter({ attribute: upn ? 'userPrincipalName' : 'sAMAccountName', value: name }),
        ],
      }),
      attributes: ['distinguishedName'],
      sizeLimit: 2,
    });
    if (found.searchEntries.length !== 1) {
      return withDetail(
        fail(
          'change_failed',
          found.searchEntries.length === 0
            ? `no account "${name}" under ${base}`
            : `more than one account matches "${name}" under ${base}`,
        ),
        'account_not_found',
      );
    }
    return found.searchEntries[0]!.dn;
  } catch (err) {
    // Nothing was changed yet.
    return fail('error', `could not look up the account: ${serverText(err, secrets)}`);
  }
}

export function verifyActiveDirectory(ctx: Ctx, password: string): Promise<Attempt> {
  const name = bindNameOf(ctx.connection, ctx.username);
  if (typeof name !== 'string') return Promise.resolve(name);
  return inSession(ctx, name, password, [password], async () => OK);
}

/**
 * self: bound as the account, one modify that deletes the current unicodePwd and adds the new one
 * (AD's password change, subject to the password policy and minimum age). privileged: bound as the
 * privileged account, a replace of unicodePwd (a reset). Both need an encrypted connection.
 */
export function changeActiveDirectory(ctx: Ctx, current: string, next: string): Promise<Attempt> {
  const c = ctx.connection;
  const viaAdmin = c.changeVia === 'privileged';
  const admin = ctx.privileged;
  if (viaAdmin && !admin) {
    return Promise.resolve(fail('change_failed', 'no privileged credential was handed out for this change'));
  }
  const secrets = [current, next, ...(admin ? [admin.password] : [])];
  const login = viaAdmin ? admin! : { username: ctx.username, password: current };
  const name = bindNameOf(c, login.username);
  if (typeof name !== 'string')
    return Promise.resolve(viaAdmin ? privilegedLoginFailure(name, login.username) : name);
  return inSession(
    ctx,
    name,
    login.password,
    secrets,
    async ({ client }) => {
      const dn = await entryOf(client, c, ctx.username, secrets);
      if (typeof dn !== 'string') return dn;
      const changes = viaAdmin
        ? [
            new Change({
              operation: 'replace',
              modification: new Attribute({ type: 'unicodePwd', values: [unicodePwd(next)] }),
            }),
          ]
        : [
            new Change({
              operation: 'delete',
              modification: new Attribute({ type: 'unicodePwd', values: [unicodePwd(current)] }),
            }),
            new Change({
              operation: 'add',
              modification: new Attribute({ type: 'unicodePwd', values: [unicodePwd(next)] }),
            }),
          ];
      if (ctx.signal.aborted) return fail('unreachable', 'aborted before the change was sent');
      try {
        await client.modify(dn, changes);
      } catch (err) {
        return changeFailure(err, secrets);
      }
      ctx.log.debug({ flavour: c.flavour, via: c.changeVia }, 'password changed');
      return OK;
    },
    (f) => (viaAdmin ? privilegedLoginFailure(f, login.username) : f),
  );
}
