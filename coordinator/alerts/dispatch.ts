import { randomUUID } from 'node:crypto';
import type { AlertBody } from '../../shared/contracts/alerts.js';
import type { Ctx } from '../context.js';
import type { Queryable } from '../store/db.js';
import { alertFacts, passes } from './channels.js';
import { flapCandidates, groupEvents, keysOf, STATUS_EVENTS } from './grouping.js';
import {
  insertDeliveries,
  listChannels,
  loadKeys,
  markDispatched,
  markAgentsOffline,
  markRunsOverdue,
  oldestMuted,
  pruneKeys,
  saveKeys,
  siteNames,
  statusEventCounts,
  takeEvents,
  takeMuted,
  type ChannelRow,
} from './store.js';

const BATCH = 5000;

/**
 * Looks for facts nobody reports (agents gone quiet, runs past their time): marking them writes
 * their events (the triggers of migration 10).
 */
export async function watch(ctx: Ctx, now: Date): Promise<void> {
  const c = ctx.config;
  await markAgentsOffline(ctx.db, new Date(now.getTime() - c.ALERT_AGENT_OFFLINE_MS));
  await markRunsOverdue(ctx.db, new Date(now.getTime() - c.ALERT_RUN_OVERDUE_MS));
}

/** The deliveries of `alerts`: one per alert and enabled channel whose filter it passes. */
function fanOut(alerts: AlertBody[], channels: ChannelRow[]) {
  return alerts.flatMap((body) =>
    channels
      .filter((c) => passes(c, alertFacts(body)))
      .map((c) => ({ id: randomUUID(), channelId: c.id, body })),
  );
}

/**
 * Turns the events older than ALERT_GROUP_WINDOW_MS into alerts (grouping.ts) and their
 * deliveries, in one transaction with marking them dispatched: a crash dispatches them again,
 * never twice (a delivery is unique per channel and alert). Returns the events dispatched.
 */
export async function dispatchEvents(ctx: Ctx, now: Date): Promise<number> {
  const c = ctx.config;
  const done = await ctx.db.tx(async (q) => {
    const events = await takeEvents(q, new Date(now.getTime() - c.ALERT_GROUP_WINDOW_MS), BATCH);
    if (events.length === 0) return null;
    const known = await loadKeys(q, keysOf(events));
    const counts = await statusEventCounts(
      q,
      flapCandidates(events),
      STATUS_EVENTS,
      new Date(now.getTime() - c.ALERT_FLAP_WINDOW_MS),
    );
    const sites = await siteNames(q, [...new Set(events.flatMap((e) => (e.site_id ? [e.site_id] : [])))]);
    const grouped = groupEvents(events, known, counts, sites, {
      repeatMs: c.ALERT_REPEAT_MS,
      massThreshold: c.ALERT_MASS_THRESHOLD,
      flapCount: c.ALERT_FLAP_COUNT,
      flapWindowMs: c.ALERT_FLAP_WINDOW_MS,
    });
    await saveKeys(q, grouped.keys);
    await markDispatched(q, grouped.dispositions);
    await insertDeliveries(q, fanOut(grouped.alerts, await listChannels(q, true)));
    return { events, grouped };
  });
  if (!done) return 0;
  for (const e of done.events)
    ctx.metrics.eventsRecorded.inc({
      type: e.type,
      disposition: done.grouped.dispositions.get(e.id) ?? 'muted',
    });
  for (const a of done.grouped.alerts) ctx.metrics.alertsRaised.inc({ type: a.type, grouping: a.grouping });
  return done.events.length;
}

/**
 * Sends what the rules held back as a digest, once the oldest of it is ALERT_DIGEST_EVERY_MS old:
 * per channel, the lines its filter lets through (counts by type, site, status and reason).
 */
export async function sendDigest(ctx: Ctx, now: Date): Promise<boolean> {
  const oldest = await oldestMuted(ctx.db);
  if (oldest === null || now.getTime() - oldest.getTime() < ctx.config.ALERT_DIGEST_EVERY_MS) return false;
  await ctx.db.tx(async (q) => {
    const lines = await takeMuted(q);
    if (lines.length === 0) return;
    const sites = await siteNames(q, [...new Set(lines.flatMap((l) => (l.site_id ? [l.site_id] : [])))]);
    const id = `digest-${Math.max(...lines.map((l) => l.last_id))}`;
    const deliveries = (await listChannels(q, true)).flatMap((channel) => {
      const mine = lines.filter((l) =>
        passes(channel, { type: l.type, siteId: l.site_id, status: l.status }),
      );
      if (mine.length === 0) return [];
      const count = mine.reduce((n, l) => n + l.count, 0);
      const body: AlertBody = {
        id,
        type: 'digest',
        severity: 'info',
        at: oldest.toISOString(),
        summary: `Digest: ${count} events held back since ${oldest.toISOString()}`,
        site: null,
        subject: { type: 'system', id: null, name: null },
        status: null,
        reason: null,
        count,
        grouping: 'digest',
        eventIds: [],
        data: {
          lines: mine.map((l) => ({
            type: l.type,
            site: l.site_id === null ? null : { id: l.site_id, name: sites.get(l.site_id) ?? null },
            status: l.status,
            reason: l.reason,
            count: l.count,
          })),
        },
      };
      return [{ id: randomUUID(), channelId: channel.id, body }];
    });
    await insertDeliveries(q, deliveries);
    ctx.metrics.alertsRaised.inc({ type: 'digest', grouping: 'digest' });
  });
  await pruneKeys(
    ctx.db,
    new Date(now.getTime() - Math.max(ctx.config.ALERT_REPEAT_MS, ctx.config.ALERT_FLAP_WINDOW_MS)),
  );
  return true;
}

/** A test alert for one channel (the "send test event" action). */
export async function queueTestAlert(q: Queryable, channel: ChannelRow): Promise<string> {
  const id = randomUUID();
  const body: AlertBody = {
    id: `test-${id}`,
    type: 'test',
    severity: 'info',
    at: new Date().toISOString(),
    summary: `Test alert for channel ${channel.name}`,
    site: null,
    subject: { type: 'system', id: null, name: null },
    status: null,
    reason: null,
    count: 1,
    grouping: 'none',
    eventIds: [],
    data: {},
  };
  await insertDeliveries(q, [{ id, channelId: channel.id, body }]);
  return id;
}
