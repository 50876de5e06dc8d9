import { SEVERITY, type AlertBody, type AlertType } from '../../shared/contracts/alerts.js';
import type { Disposition, EventRow } from './store.js';

/*
 * Not spam (docs/alerts.md#not-spam): which events alert, pure. Every event has a repeat key (its
 * subject, type and reason); credential events also a site key (site, type, reason) and a flap key.
 * - flapping: a credential with ALERT_FLAP_COUNT status events within the flap window alerts once
 *   (`credential.flapping`); its status events then wait for the digest while it keeps flapping;
 * - repeat: an event whose key had an event within ALERT_REPEAT_MS waits for the digest;
 * - site: credential events of one site, type and reason in one batch (one ALERT_GROUP_WINDOW_MS),
 *   ALERT_MASS_THRESHOLD or more, are one alert naming the site and the count; later ones of that
 *   site key within ALERT_REPEAT_MS wait for the digest.
 */

export interface GroupingConfig {
  repeatMs: number;
  massThreshold: number;
  flapCount: number;
  flapWindowMs: number;
}

export const STATUS_EVENTS = [
  'credential.out_of_sync',
  'credential.agent_disabled',
  'credential.unsyncable',
  'credential.in_sync',
] as const;
const isStatusEvent = (type: string) => (STATUS_EVENTS as readonly string[]).includes(type);

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const reasonOf = (e: EventRow) => str(e.data.reason);

export const repeatKey = (e: EventRow) =>
  `${e.subject_type}:${e.subject_id ?? ''}:${e.type}:${reasonOf(e) ?? ''}`;
const siteKey = (e: EventRow) => `site:${e.site_id}:${e.type}:${reasonOf(e) ?? ''}`;
const flapKey = (e: EventRow) => `flap:${e.subject_id}`;
const groupable = (e: EventRow) => e.subject_type === 'credential' && e.site_id !== null;

/** Every key the rules look at for these events (to load them first). */
export function keysOf(events: EventRow[]): string[] {
  const keys = new Set<string>();
  for (const e of events) {
    keys.add(repeatKey(e));
    if (groupable(e)) keys.add(siteKey(e));
    if (e.subject_type === 'credential') keys.add(flapKey(e));
  }
  return [...keys];
}

/** Credentials of these events with status events (the flapping rule counts theirs). */
export const flapCandidates = (events: EventRow[]): string[] => [
  ...new Set(
    events.filter((e) => e.subject_type === 'credential' && isStatusEvent(e.type)).map((e) => e.subject_id!),
  ),
];

export interface Grouped {
  alerts: AlertBody[];
  dispositions: Map<number, Disposition>;
  /** Keys with their newest event, to save. */
  keys: Map<string, Date>;
}

export function groupEvents(
  events: EventRow[],
  known: Map<string, Date>,
  statusCounts: Map<string, number>,
  sites: Map<string, string>,
  cfg: GroupingConfig,
): Grouped {
  const keys = new Map(known);
  const touched = new Map<string, Date>();
  const touch = (key: string, at: Date) => {
    keys.set(key, at);
    touched.set(key, at);
  };
  const recent = (key: string, at: Date, within: number) => {
    const last = keys.get(key);
    return last !== undefined && at.getTime() - last.getTime() <= within;
  };
  const alerts: AlertBody[] = [];
  const dispositions = new Map<number, Disposition>();
  const candidates: EventRow[] = [];
  for (const e of events) {
    if (
      e.subject_type === 'credential' &&
      isStatusEvent(e.type) &&
      (statusCounts.get(e.subject_id!) ?? 0) >= cfg.flapCount
    ) {
      const key = flapKey(e);
      if (recent(key, e.at, cfg.flapWindowMs)) {
        dispositions.set(e.id, 'muted');
      } else {
        alerts.push(alertOf('credential.flapping', [e], 'flapping', sites, statusCounts.get(e.subject_id!)));
        dispositions.set(e.id, 'grouped');
      }
      touch(key, e.at);
      touch(repeatKey(e), e.at);
      continue;
    }
    const key = repeatKey(e);
    if (recent(key, e.at, cfg.repeatMs)) dispositions.set(e.id, 'muted');
    else candidates.push(e);
    touch(key, e.at);
  }
  const bySite = new Map<string, EventRow[]>();
  for (const e of candidates) {
    if (!groupable(e)) {
      alerts.push(alertOf(e.type as AlertType, [e], 'none', sites));
      dispositions.set(e.id, 'alerted');
      continue;
    }
    const key = siteKey(e);
    bySite.set(key, [...(bySite.get(key) ?? []), e]);
  }
  for (const [key, group] of bySite) {
    const first = group[0]!;
    if (recent(key, first.at, cfg.repeatMs)) {
      for (const e of group) dispositions.set(e.id, 'muted');
    } else if (group.length >= cfg.massThreshold) {
      alerts.push(alertOf(first.type as AlertType, group, 'site', sites));
      for (const e of group) dispositions.set(e.id, 'grouped');
    } else {
      for (const e of group) {
        alerts.push(alertOf(e.type as AlertType, [e], 'none', sites));
        dispositions.set(e.id, 'alerted');
      }
      continue; // a few credentials alerting one by one do not hold back the site's next ones
    }
    touch(key, group.at(-1)!.at);
  }
  return { alerts, dispositions, keys: touched };
}

const LABEL: Record<string, string> = {
  'credential.out_of_sync': 'out of sync',
  'credential.agent_disabled': 'without an enabled agent',
  'credential.unsyncable': 'unsyncable',
  'credential.in_sync': 'back in sync',
  'credential.change_succeeded': 'password changed',
  'credential.change_failed': 'password change failed',
  'credential.change_outcome_unknown': 'password change outcome unknown',
  'credential.suspended': 'suspended after repeated failures',
  'credential.flapping': 'flapping',
};

function summaryOf(type: AlertType, e: EventRow, count: number, site: string | null): string {
  const reason = reasonOf(e);
  const label = `${LABEL[type] ?? type}${reason ? ` (${reason})` : ''}`;
  const where = site === null ? '' : ` of site ${site}`;
  if (count > 1 && type !== 'credential.flapping') return `${count} credentials${where}: ${label}`;
  const d = e.data;
  switch (e.subject_type) {
    case 'credential':
      return `${str(d.username) ?? e.subject_id} on ${str(d.target) ?? 'its target'}${where}: ${label}${type === 'credential.flapping' ? ` (${count} status changes)` : ''}`;
    case 'agent':
      return `Agent ${str(d.name) ?? e.subject_id}${where} ${type === 'agent.offline' ? 'is offline: no heartbeat' : type === 'agent.online' ? 'is back online' : 'awaits approval'}`;
    case 'site':
      return type === 'site.no_working_agent'
        ? `Site ${site ?? e.subject_id} has no working agent`
        : `Site ${site ?? e.subject_id} has a working agent again`;
    case 'run':
      return type === 'run.overdue'
        ? `Sync run ${e.subject_id}${where} is running past its expected time`
        : `Sync run ${e.subject_id}${where} finished: ${str(d.outcome) ?? 'no outcome'}`;
    default:
      return type === 'system.master_key_rotated' ? 'Master key rotation done' : type;
  }
}

function subjectName(e: EventRow): string | null {
  if (e.subject_type === 'credential') {
    const user = str(e.data.username);
    return user === null ? null : `${user}@${str(e.data.target) ?? ''}`;
  }
  return str(e.data.name);
}

/** The alert for `events` (one, or a group of one site's): the body every channel sends. */
export function alertOf(
  type: AlertType,
  events: EventRow[],
  grouping: AlertBody['grouping'],
  sites: Map<string, string>,
  flapCount?: number,
): AlertBody {
  const e = events[0]!;
  const site = e.site_id === null ? null : { id: e.site_id, name: sites.get(e.site_id) ?? null };
  const count = grouping === 'flapping' ? (flapCount ?? 1) : events.length;
  const single = events.length === 1;
  return {
    id: `${grouping === 'site' ? 'site' : grouping === 'flapping' ? 'flap' : 'evt'}-${e.id}`,
    type,
    severity: SEVERITY[type],
    at: e.at.toISOString(),
    summary: summaryOf(type, e, count, site?.name ?? null),
    site,
    subject:
      grouping === 'site'
        ? { type: 'site', id: e.site_id, name: site?.name ?? null }
        : {
            type: e.subject_type as AlertBody['subject']['type'],
            id: e.subject_id,
            name: subjectName(e),
          },
    status: str(e.data.status),
    reason: reasonOf(e),
    count,
    grouping,
    eventIds: events.slice(0, 100).map((x) => x.id),
    data: single
      ? e.data
      : {
          credentialIds: events.slice(0, 100).map((x) => x.subject_id),
          firstAt: e.at,
          lastAt: events.at(-1)!.at,
        },
  };
}
