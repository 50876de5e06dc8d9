/** A dependency's login as the claim hands it out: the account and the target it is on. */
export interface DependencyLogin {
  username: string;
  password: string;
  target: { kind: string; connection: Record<string, unknown> };
}

/** What one check or push of a dependency found. `message` never holds a password (the runner guards it). */
export type Step = { ok: true; message?: string } | { ok: false; message: string };
