import type { LdapConnection } from '../../../shared/targets/directory.js';
import { fillDnTemplate, isDn } from '../../../shared/targets/dn.js';
import type { AdapterContext, Attempt } from '../types.js';
import { fail, OK, privilegedLoginFailure, type Failure } from '../common.js';
import { changeFailure } from './errors.js';
import { PASSWORD_MODIFY_OID, PasswordPolicyControl, passwordModifyValue } from './ldap-values.js';
import { inSession } from './session.js';

type Ctx = AdapterContext<LdapConnection>;

/** The account's DN: `username` itself when it is a DN, else `userDnTemplate` filled with it. */
export function dnOf(c: LdapConnection, username: string): string | Failure {
  if (isDn(username)) return username;
  if (c.userDnTemplate !== undefined) return fillDnTemplate(c.userDnTemplate, username);
  return fail('error', `"${username}" is not a DN and the target has no userDnTemplate to make one`);
}

export function verifyLdap(ctx: Ctx, password: string): Promise<Attempt> {
  const dn = dnOf(ctx.connection, ctx.username);
  if (typeof dn !== 'string') return Promise.resolve(dn);
  return inSession(ctx, dn, password, [password], async () => OK);
}

/**
 * The Password Modify extended operation (RFC 3062) with the password policy control. self: bound
 * as the account, with its current password as oldPasswd (the policy's quality, history and
 * minimum age apply). privileged: bound as the privileged account, without oldPasswd (a reset).
 */
export function changeLdap(ctx: Ctx, current: string, next: string): Promise<Attempt> {
  const c = ctx.connection;
  const viaAdmin = c.changeVia === 'privileged';
  const admin = ctx.privileged;
  if (viaAdmin && !admin) {
    return Promise.resolve(fail('change_failed', 'no privileged credential was handed out for this change'));
  }
  const dn = dnOf(c, ctx.username);
  if (typeof dn !== 'string') return Promise.resolve(dn);
  const login = viaAdmin ? admin! : { username: ctx.username, password: current };
  const bindDn = viaAdmin ? dnOf(c, login.username) : dn;
  if (typeof bindDn !== 'string') return Promise.resolve(privilegedLoginFailure(bindDn, login.username));
  const secrets = [current, next, ...(admin ? [admin.password] : [])];
  return inSession(
    ctx,
    bindDn,
    login.password,
    secrets,
    async ({ client }) => {
      const ppolicy = new PasswordPolicyControl();
      const value = passwordModifyValue(
        viaAdmin
          ? { userIdentity: dn, newPasswd: next }
          : { userIdentity: dn, oldPasswd: current, newPasswd: next },
      );
      if (ctx.signal.aborted) return fail('unreachable', 'aborted before the change was sent');
      try {
        await client.exop(PASSWORD_MODIFY_OID, value, ppolicy);
      } catch (err) {
        return changeFailure(err, secrets, ppolicy.error);
      }
      ctx.log.debug({ flavour: c.flavour, via: c.changeVia }, 'password changed');
      return OK;
    },
    (f) => (viaAdmin ? privilegedLoginFailure(f, login.username) : f),
  );
}
