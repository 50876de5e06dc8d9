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
