/**
 * The bearer tokens the coordinator issues, in one place: what a well-formed one looks like is
 * decided here before any of it reaches a query, so a malformed token (`pwo_<not a uuid>.…`, empty,
 * huge, not ASCII, no dot) is a plain 401, counted by the auth-failure limiter like any bad token.
 */
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** The secret part: base64url of 32 random bytes when issued (43 characters). */
const SECRET = '[A-Za-z0-9_-]{20,200}';

/** An operator API token `pwo_<tokenId>.<secret>` (group 1: the token's id). */
export const OPERATOR_TOKEN = new RegExp(`^pwo_(${UUID})\\.${SECRET}$`);
/** An agent's own token `pwa_<agentId>.<secret>` (group 1: the agent's id). */
export const AGENT_TOKEN = new RegExp(`^pwa_(${UUID})\\.${SECRET}$`);
/** A site's enrollment token `pwe_<secret>`. */
export const ENROLLMENT_TOKEN = new RegExp(`^pwe_${SECRET}$`);

/**
 * The token of an `Authorization: Bearer <token>` header, or undefined (none, another scheme, empty).
 * The scheme's name is case-insensitive (RFC 9110 §11.1): `bearer`, `BEARER` do too.
 */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined || !/^bearer /i.test(authorization)) return undefined;
  const token = authorization.slice(7).trim();
  return token === '' ? undefined : token;
}
