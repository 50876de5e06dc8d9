/** How long one operator's job holds its site's routine work at most (its result usually ends the hold sooner). */
export const OPERATOR_HOLD_MS = 1_000;

/** The window over which a site's holds are capped. */
const WINDOW_MS = 1_000;

/** The share of each window a site's routine work may be held: a run keeps a quarter of its pace under any stream of Sync now. */
const MAX_HELD_SHARE = 0.75;

interface SiteHolds {
  /** Credentials whose operator job is in flight, and until when each holds. */
  jobs: Map<string, number>;
  windowStart: number;
  /** How long routine work was held in this window. */
  heldMs: number;
  /** Since when the current held stretch is counted (undefined: not held now). */
  since: number | undefined;
}

/**
 * Operator work first (in memory, per coordinator process; Wake shares holds between replicas): from
 * the moment an operator's job (Sync now) is queued until its result is applied, the site's routine
 * verifications are not handed out, so the agents' slots and the coordinator's CPU are free for it
 * while a full run keeps them busy. Bounded twice: a job holds for OPERATOR_HOLD_MS at most (a lost
 * result, a job another replica applied without telling), and a site's routine work is held for at
 * most MAX_HELD_SHARE of any WINDOW_MS, so a stream of Sync now slows a run but never stops it.
 */
export class OperatorHolds {
  private readonly sites = new Map<string, SiteHolds>();

  /** An operator's job for this credential is being queued. */
  hold(siteId: string, credentialId: string, now = Date.now()): void {
    let site = this.sites.get(siteId);
    if (!site)
      this.sites.set(siteId, (site = { jobs: new Map(), windowStart: now, heldMs: 0, since: undefined }));
    site.jobs.set(credentialId, now + OPERATOR_HOLD_MS);
  }

  /** These credentials' results were applied: their holds end. Returns the ones that held. */
  release(siteId: string, credentialIds: Iterable<string>, now = Date.now()): string[] {
    const site = this.sites.get(siteId);
    if (!site || site.jobs.size === 0) return [];
    const ended: string[] = [];
    for (const id of credentialIds) if (site.jobs.delete(id)) ended.push(id);
    if (site.jobs.size === 0) this.stopCounting(site, now);
    return ended;
  }

  /** Whether the site's routine work waits now for an operator's job (and counts the time it does). */
  holding(siteId: string, now = Date.now()): boolean {
    const site = this.sites.get(siteId);
    if (!site) return false;
    for (const [id, until] of site.jobs) if (until <= now) site.jobs.delete(id);
    if (site.jobs.size === 0) {
      this.stopCounting(site, now);
      return false;
    }
    if (site.since !== undefined) site.heldMs += now - site.since;
    if (now - site.windowStart >= WINDOW_MS) {
      site.windowStart = now;
      site.heldMs = 0;
    }
    if (site.heldMs >= WINDOW_MS * MAX_HELD_SHARE) {
      site.since = undefined;
      return false;
    }
    site.since = now;
    return true;
  }

  private stopCounting(site: SiteHolds, now: number): void {
    if (site.since !== undefined) site.heldMs += now - site.since;
    site.since = undefined;
  }
}
