import type { AlertBody } from '../../shared/contracts/alerts.js';
import type { ChannelRow } from './store.js';

/** A channel's filter, as the dispatcher applies it: empty lists let everything through. */
export interface FilterFacts {
  type: string;
  siteId: string | null;
  status: string | null;
}

export function passes(
  c: Pick<ChannelRow, 'event_types' | 'site_ids' | 'statuses'>,
  f: FilterFacts,
): boolean {
  if (c.event_types.length > 0 && !c.event_types.includes(f.type)) return false;
  if (c.site_ids.length > 0 && (f.siteId === null || !c.site_ids.includes(f.siteId))) return false;
  if (c.statuses.length > 0 && f.status !== null && !c.statuses.includes(f.status)) return false;
  return true;
}

export const alertFacts = (a: AlertBody): FilterFacts => ({
  type: a.type,
  siteId: a.site?.id ?? null,
  status: a.status,
});
