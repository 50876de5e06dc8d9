import { describe, expect, it } from 'vitest';
import { groupEvents, keysOf } from '../../coordinator/alerts/grouping.js';
import type { EventRow } from '../../coordinator/alerts/store.js';

const cfg = { repeatMs: 3_600_000, massThreshold: 10, flapCount: 4, flapWindowMs: 3_600_000 };
const site = '00000000-0000-4000-8000-000000000001';
const sites = new Map([[site, 'branch-1']]);
const at = new Date('2026-01-01T00:00:00Z');
let next = 1;
const event = (over: Partial<EventRow> = {}): EventRow => ({
  id: next++,
  at,
  type: 'credential.out_of_sync',
  site_id: site,
  subject_type: 'credential',
  subject_id: `cred-${next}`,
  data: { status: 'out_of_sync', reason: 'unreachable', username: 'u', target: 't' },
  ...over,
});

describe('alert grouping (docs/alerts.md#not-spam)', () => {
  it('a mass failure of one site is one alert naming the site and the count', () => {
    const events = Array.from({ length: 1000 }, () => event());
    const g = groupEvents(events, new Map(), new Map(), sites, cfg);
    expect(g.alerts).toHaveLength(1);
    expect(g.alerts[0]).toMatchObject({
      grouping: 'site',
      count: 1000,
      site: { id: site, name: 'branch-1' },
    });
    expect(g.alerts[0]!.summary).toContain('branch-1');
    // The next batch of the same site and reason waits for the digest.
    const later = groupEvents([event()], g.keys, new Map(), sites, cfg);
    expect(later.alerts).toEqual([]);
  });

  it('a few failures alert one by one; the same failure again is held for the digest', () => {
    const e = event();
    const g = groupEvents([e, event()], new Map(), new Map(), sites, cfg);
    expect(g.alerts.map((a) => a.grouping)).toEqual(['none', 'none']);
    const again = { ...e, id: next++, at: new Date(at.getTime() + 86_400_000 / 48) };
    const r = groupEvents([again], g.keys, new Map(), sites, cfg);
    expect(r.alerts).toEqual([]);
    expect(r.dispositions.get(again.id)).toBe('muted');
  });

  it('a flapping credential alerts once as flapping', () => {
    const e = event({ subject_id: 'flappy' });
    const counts = new Map([['flappy', 5]]);
    const g = groupEvents([e], new Map(), counts, sites, cfg);
    expect(g.alerts.map((a) => a.type)).toEqual(['credential.flapping']);
    const r = groupEvents(
      [event({ subject_id: 'flappy', type: 'credential.in_sync' })],
      g.keys,
      counts,
      sites,
      cfg,
    );
    expect(r.alerts).toEqual([]);
    expect(keysOf([e])).toContain('flap:flappy');
  });

  it('an agent going offline alerts with its own id', () => {
    const e = event({
      type: 'agent.offline',
      subject_type: 'agent',
      subject_id: 'a1',
      data: { name: 'edge-1' },
    });
    const g = groupEvents([e], new Map(), new Map(), sites, cfg);
    expect(g.alerts[0]).toMatchObject({ id: `evt-${e.id}`, type: 'agent.offline', severity: 'critical' });
    expect(g.alerts[0]!.summary).toBe('Agent edge-1 of site branch-1 is offline: no heartbeat');
  });
});
