import { z } from 'zod';
import { changeViaParts, type TargetKindSpec } from './spec.js';

/** An SSH host key fingerprint as OpenSSH prints it: SHA256:<base64 of the key blob>. */
export const HOST_KEY_SHA256 = /^SHA256:[A-Za-z0-9+/]{43}=?$/;

/** The same fingerprint with any base64 padding removed, for comparison. */
export const normalizeHostKey = (fingerprint: string): string => fingerprint.replace(/=+$/, '');

/** A Linux or Unix machine reached over SSH (password logins). */
export const WorkstationConnectionSchema = z.strictObject({
  /** Host name or IP address of the SSH server. */
  host: z.string().trim().min(1).max(253),
  port: z.number().int().min(1).max(65_535).default(22),
  /**
   * The server's host key fingerprint (`ssh-keygen -lf`, SHA256). When absent, the first key an
   * agent sees is recorded here (trust on first use); a different key later fails the job.
   */
  hostKeySha256: z
    .string()
    .trim()
    .regex(HOST_KEY_SHA256, { message: 'expected SHA256:<base64>, as ssh-keygen -l prints it' })
    .optional(),
  /**
   * `self`: the account logs in and runs `passwd`, answering its prompts.
   * `privileged`: the account `privilegedCredentialId` (same site) logs in and runs
   * `sudo -S chpasswd`; it may then also reset an account whose password no longer works.
   */
  changeVia: z.enum(['self', 'privileged']).default('self'),
  privilegedCredentialId: z.uuid().optional(),
  /** Time allowed to connect and authenticate. */
  connectTimeoutMs: z.number().int().min(100).max(300_000).default(10_000),
  /** Time allowed for each prompt or command answer once logged in. */
  promptTimeoutMs: z.number().int().min(100).max(300_000).default(10_000),
});
export type WorkstationConnection = z.infer<typeof WorkstationConnectionSchema>;

/** C0 controls and DEL: a line break ends a `passwd` answer or a `chpasswd` record, others reach the terminal. */
export const CONTROL_CHARACTERS = String.fromCharCode(...Array.from({ length: 32 }, (_, i) => i), 0x7f);

export const workstationSpec: TargetKindSpec<typeof WorkstationConnectionSchema> = {
  kind: 'workstation',
  connectionSchema: WorkstationConnectionSchema,
  host: (c) => c.host,
  endpoint: (c) => `${c.host.toLowerCase()}:${c.port}`,
  routing: (c) => ({
    host: c.host.toLowerCase(),
    port: c.port,
    changeVia: c.changeVia,
    privilegedCredentialId: c.privilegedCredentialId ?? null,
  }),
  pinned: (c) => (c.hostKeySha256 === undefined ? undefined : { hostKeySha256: c.hostKeySha256 }),
  // Only a privileged change needs the privileged account; a `self` target never receives it.
  ...changeViaParts<WorkstationConnection>(),
  // Declared, so a given password with one is refused by the API at once (not at change time).
  passwordConstraints: () => ({ forbidden: CONTROL_CHARACTERS, forbiddenText: 'control characters' }),
  pinObserved: (c, observed) =>
    c.hostKeySha256 === undefined && observed.hostKeySha256 !== undefined
      ? { ...c, hostKeySha256: observed.hostKeySha256 }
      : undefined,
};
