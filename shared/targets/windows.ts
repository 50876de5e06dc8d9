import { z } from 'zod';
import { HostSchema, hostPort, PortSchema } from './host.js';
import { changeViaParts, type TargetKindSpec } from './spec.js';
import { CONTROL_CHARACTERS } from './workstation.js';

/** The longest logon password rpcclient reads (bytes of UTF-8). */
export const MAX_PASSWORD_BYTES = 128;

/** A domain (or machine) SID: S-1-5-21 and three sub-authorities. */
export const ACCOUNT_DOMAIN_SID = /^S-1-5-21(?:-\d{1,10}){3}$/;

/**
 * A Windows host's accounts over SMB (docs/adapters/windows.md): local accounts of a workstation or
 * member server, or domain accounts through a domain controller. NTLM over SMB 2/3 with signing
 * required, through Samba's `rpcclient` on the agent's host.
 */
export const WindowsConnectionSchema = z.strictObject({
  host: HostSchema,
  port: PortSchema.default(445),
  /**
   * The accounts' domain as NTLM names it: a NetBIOS domain name for domain accounts, the computer
   * name for local ones. Absent: the host's local accounts (the server's own account domain).
   */
  domain: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9][A-Za-z0-9.-]{0,14}$/, { message: 'expected a NetBIOS name (up to 15 characters)' })
    .optional(),
  /**
   * The SID of the account domain the server answers for (`S-1-5-21-…`: the machine's SID for local
   * accounts, the domain's on a domain controller), read over the signed session. When absent, the
   * first one an agent sees is recorded here (trust on first use, audited); a different one later
   * fails the job before a password change is sent.
   */
  accountDomainSid: z
    .string()
    .trim()
    .regex(ACCOUNT_DOMAIN_SID, { message: 'expected a domain SID: S-1-5-21-<n>-<n>-<n>' })
    .optional(),
  /** `sign`: SMB signing required (default); `encrypt`: SMB 3 encryption required as well. */
  protection: z.enum(['sign', 'encrypt']).default('sign'),
  /**
   * `self`: the account changes its own password (SAMR password change, as itself).
   * `privileged`: the account `privilegedCredentialId` (same target) sets it (SAMR set user info).
   */
  changeVia: z.enum(['self', 'privileged']).default('self'),
  privilegedCredentialId: z.uuid().optional(),
  /** Time allowed to connect and authenticate. */
  connectTimeoutMs: z.number().int().min(100).max(300_000).default(10_000),
  /** Time allowed for each request once authenticated. */
  operationTimeoutMs: z.number().int().min(100).max(300_000).default(10_000),
});
export type WindowsConnection = z.output<typeof WindowsConnectionSchema>;

export const windowsSpec: TargetKindSpec<typeof WindowsConnectionSchema> = {
  kind: 'windows',
  connectionSchema: WindowsConnectionSchema,
  host: (c) => c.host,
  endpoint: (c) => `smb://${hostPort(c.host.toLowerCase(), c.port)}`,
  routing: (c) => ({
    host: c.host.toLowerCase(),
    port: c.port,
    domain: c.domain?.toUpperCase() ?? null,
    protection: c.protection,
    changeVia: c.changeVia,
    privilegedCredentialId: c.privilegedCredentialId ?? null,
  }),
  pinned: (c) => (c.accountDomainSid === undefined ? undefined : { accountDomainSid: c.accountDomainSid }),
  ...changeViaParts<WindowsConnection>(),
  pinObserved: (c, observed) =>
    c.accountDomainSid === undefined && observed.accountDomainSid !== undefined
      ? { ...c, accountDomainSid: observed.accountDomainSid }
      : undefined,
  // rpcclient (Samba's credentials code) reads at most 128 bytes of a logon password from its
  // descriptor (Windows takes up to 256 characters); the password also goes to rpcclient as a line
  // of its standard input, which a control character would break.
  passwordConstraints: () => ({
    maxLength: MAX_PASSWORD_BYTES,
    forbidden: CONTROL_CHARACTERS,
    forbiddenText: 'control characters',
  }),
};
