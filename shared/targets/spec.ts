import type { z } from 'zod';
import type { Observed } from '../contracts/gateway.js';

/** What a target accepts as a password, beyond any policy: generation and given passwords obey it. */
export interface PasswordConstraints {
  /** Longest password the target takes. */
  maxLength?: number;
  /** Characters the target refuses (or that break its protocol). */
  forbidden?: string;
  /** How messages name `forbidden` when listing it would not read well (e.g. control characters). */
  forbiddenText?: string;
}

export interface Capabilities {
  /** The adapter can check the stored password against the target. */
  verify: boolean;
  /** The adapter can change the password on the target. */
  change: boolean;
  /** The change step is mapped to the password's fields (a web change workflow uses {{newPassword}}). */
  changeConfigured: boolean;
}

/** What both sides know of a target kind: its connection schema and what it can do. */
export interface TargetKindSpec<S extends z.ZodType = z.ZodType> {
  kind: string;
  connectionSchema: S;
  /** The host the per-host session limit is keyed on. */
  host: (connection: z.output<S>) => string;
  capabilities: (connection: z.output<S>) => Capabilities;
  /**
   * Where this target's passwords are sent, e.g. `host:port` (default: `host`). A privileged
   * credential must be on a target of the same kind with the same endpoint ("on the same target").
   */
  endpoint?: (connection: z.output<S>) => string;
  /**
   * The parts of a connection that decide where passwords go and how they are protected on the way
   * (host, port, URLs, TLS, the privileged account). Changing them needs the admin role: it would
   * send the target's passwords somewhere else. Default: the whole connection.
   */
  routing?: (connection: z.output<S>) => unknown;
  /** What the connection pins of its endpoint (e.g. an SSH host key), if anything. */
  pinned?: (connection: z.output<S>) => Observed | undefined;
  /** The credential (same site) whose password may reset this target's accounts, if the connection names one. */
  privilegedCredentialId?: (connection: z.output<S>) => string | undefined;
  /**
   * Trust on first use: given what an agent observed (e.g. an SSH host key), the connection to store
   * when the target has nothing pinned yet; undefined = nothing to record.
   */
  pinObserved?: (connection: z.output<S>, observed: Observed) => z.output<S> | undefined;
  /** The target's own password limits, if the kind (or this connection) has any. */
  passwordConstraints?: (connection: z.output<S>) => PasswordConstraints;
}

/**
 * Capabilities and privileged account of a kind whose connection has `changeVia` (`self` or
 * `privileged`) and `privilegedCredentialId`: it verifies and changes; a privileged change needs the
 * credential named (else `change_not_configured`), and only a privileged change is handed it.
 */
export const changeViaParts = <
  C extends { changeVia: 'self' | 'privileged'; privilegedCredentialId?: string | undefined },
>() => ({
  capabilities: (c: C): Capabilities => ({
    verify: true,
    change: true,
    changeConfigured: c.changeVia === 'self' || c.privilegedCredentialId !== undefined,
  }),
  privilegedCredentialId: (c: C): string | undefined =>
    c.changeVia === 'privileged' ? c.privilegedCredentialId : undefined,
});
