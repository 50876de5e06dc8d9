import type { DetailCode, Reason } from '../../shared/contracts/status.js';
import type { Logger } from '../../shared/logger.js';
import type { Observed } from '../../shared/contracts/gateway.js';

/** Why an attempt failed: any out-of-sync reason but `stale`, which only the coordinator derives. */
export type AttemptReason = Exclude<Reason, 'stale'>;

/**
 * The target's answer to one primitive. `definite: true` on a failure means the adapter knows the
 * target's state did not change: for `change`, a refusal (policy rejected the password) or
 * `unreachable` before anything was sent. Leave it unset when unsure (a timeout after sending, a
 * dropped connection): the runner then treats the change as possibly applied.
 * `message` is shown to operators and must not contain a password (the runner also guards it).
 */
export type Attempt = (
  | { ok: true }
  | {
      ok: false;
      reason: AttemptReason;
      message?: string;
      definite?: boolean;
      /** A known case worth telling apart (e.g. `host_key_changed`): carried to the coordinator. */
      detailCode?: DetailCode;
    }
) & {
  /** What the adapter saw on the target for the coordinator to record (e.g. the SSH host key). */
  observed?: Observed;
};

export interface AdapterContext<C extends object = Record<string, unknown>> {
  username: string;
  /** The target's connection, parsed (defaults applied) by its kind's schema in shared/targets. */
  connection: C;
  host: string;
  /** Aborted when the job's lock is lost or the agent shuts down: stop soon. */
  signal: AbortSignal;
  /** Carries jobId and credentialId; never log a password. */
  log: Logger;
  /** For change jobs on targets that name one: a privileged account that may reset the password. */
  privileged?: { username: string; password: string };
}

/**
 * A target adapter: two primitives; the runner builds the verify / change / reconcile protocol on
 * them. Adapters return the target's answer and never throw for it; a throw is treated as a bug.
 */
export interface Adapter<C extends object = Record<string, unknown>> {
  kind: string;
  /** Does `password` log in as ctx.username? */
  verify(ctx: AdapterContext<C>, password: string): Promise<Attempt>;
  /** Sets `newPassword`, authenticating with `currentPassword` (or a privileged credential). */
  change(ctx: AdapterContext<C>, currentPassword: string, newPassword: string): Promise<Attempt>;
}
