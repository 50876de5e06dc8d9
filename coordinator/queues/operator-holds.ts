/** How long one operator's job holds its site's routine work at most (its result usually ends the hold sooner). */
export const OPERATOR_HOLD_MS = 1_000;

/**
 * While operator jobs keep a site busy, its routine work is held for the first HELD_PER_CYCLE_MS of
 * every CYCLE_MS (counted from when the site became busy) and goes on for the rest: a stream of Sync
 * now slows a run but never stops it.
 */
export const CYCLE_MS = 1_000;
export const HELD_PER_CYCLE_MS = 750;

/** A site idle for less than this between two operator jobs stays in the same busy stretch (its cycle goes on). */
const SAME_STRETCH_MS = CYCLE_MS - HELD_PER_CYCLE_MS;

interface SiteHolds {
  /** Credentials whose operator job is in flight, and until when each holds. */
  jobs: Map<string, number>;
  /** When the site's current busy stretch began (its cycles count from there). */
  busySince: number;
  /** When the site last had no operator job in flight (undefined while it has). */
  idleSince: number | undefined;
}

/**
 * Operator work first (in memory, per coordinator process; Wake shares holds between replicas): from
 * the moment an operator's job (Sync now) is decided until its result is applied, the site's routine
 * verifications are not handed out, so the agents' slots and the coordinator's CPU are free for it
 * while a full run keeps them busy. Bounded twice: a job holds for OPERATOR_HOLD_MS at most (a lost
 * result, a job another replica applied without telling), and a busy site's routine work is held
 * HELD_PER_CYCLE_MS of every CYCLE_MS at most. Times are the callers' clock (Date.now()).
 */
export class OperatorHolds {
  private readonly sites = new Map<string, SiteHolds>();

  /** An operator's job for this credential is being queued. */
  hold(siteId: string, credentialId: string, now = Date.now()): void {
    let site = this.sites.get(siteId);
    if (!site) this.sites.set(siteId, (site = { jobs: new Map(), busySince: now, idleSince: undefined }));
    this.prune(site, now);
    if (site.idleSince !== undefined) {
      if (now - site.idleSince >= SAME_STRETCH_MS) site.busySince = now;
      site.idleSince = undefined;
    }
    site.jobs.set(credentialId, now + OPERATOR_HOLD_MS);
  }

  /** These credentials' results were applied: their holds end. Returns the ones that held. */
  release(siteId: string, credentialIds: Iterable<string>, now = Date.now()): string[] {
    const site = this.sites.get(siteId);
    if (!site || site.jobs.size === 0) return [];
    const ended: string[] = [];
    for (const id of credentialIds) if (site.jobs.delete(id)) ended.push(id);
    if (ended.length > 0 && site.jobs.size === 0) site.idleSince = now;
    return ended;
  }

  /** Whether the site's routine work waits now for an operator's job. */
  holding(siteId: string, now = Date.now()): boolean {
    return this.endsIn(siteId, now) > 0;
  }

  /** In how many ms the site's hold ends by its bounds (0: not held now); its result may end it sooner. */
  endsIn(siteId: string, now = Date.now()): number {
    const site = this.sites.get(siteId);
    if (!site) return 0;
    this.prune(site, now);
    if (site.jobs.size === 0) {
      // Nothing held for a whole stretch: forgotten (a site's entry lives while it is busy).
      if (now - site.idleSince! >= SAME_STRETCH_MS) this.sites.delete(siteId);
      return 0;
    }
    const phase = (now - site.busySince) % CYCLE_MS;
    if (phase >= HELD_PER_CYCLE_MS) return 0;
    let last = 0;
    for (const until of site.jobs.values()) last = Math.max(last, until);
    return Math.min(HELD_PER_CYCLE_MS - phase, last - now);
  }

  /** Drops expired holds; a site left without one became idle when the last of them expired. */
  private prune(site: SiteHolds, now: number): void {
    if (site.jobs.size === 0) return;
    let last = 0;
    for (const [id, until] of site.jobs) {
      if (until > now) continue;
      site.jobs.delete(id);
      last = Math.max(last, until);
    }
    if (site.jobs.size === 0) site.idleSince = last;
  }
}
