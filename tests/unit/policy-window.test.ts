import { describe, expect, it } from 'vitest';
import {
  deferToWindow,
  inWindow,
  MaintenanceWindowSchema,
  nextOpening,
  windowLengthMs,
  type MaintenanceWindow,
} from '../../coordinator/policies/window.js';

const w = (patch: Partial<MaintenanceWindow> = {}): MaintenanceWindow =>
  MaintenanceWindowSchema.parse({
    days: [1, 2, 3, 4, 5],
    start: '22:00',
    end: '23:30',
    timeZone: 'UTC',
    ...patch,
  });

describe('maintenance window', () => {
  it('validates days, HH:MM and the IANA time zone, naming the field', () => {
    expect(
      MaintenanceWindowSchema.safeParse({ days: [7], start: '22:00', end: '23:00', timeZone: 'UTC' }).success,
    ).toBe(false);
    const badTime = MaintenanceWindowSchema.safeParse({
      days: [1],
      start: '24:00',
      end: '23:00',
      timeZone: 'UTC',
    });
    expect(badTime.success ? [] : badTime.error.issues.map((i) => i.path.join('.'))).toEqual(['start']);
    const badZone = MaintenanceWindowSchema.safeParse({
      days: [1],
      start: '01:00',
      end: '02:00',
      timeZone: 'Mars/Base',
    });
    expect(badZone.success ? [] : badZone.error.issues.map((i) => i.path.join('.'))).toEqual(['timeZone']);
    const same = MaintenanceWindowSchema.safeParse({
      days: [1],
      start: '01:00',
      end: '01:00',
      timeZone: 'UTC',
    });
    expect(same.success ? [] : same.error.issues.map((i) => i.path.join('.'))).toEqual(['end']);
  });

  it('is open on its days between start and end, local to its zone', () => {
    // 2026-06-01 is a Monday.
    expect(inWindow(w(), new Date('2026-06-01T22:15:00Z'))).toBe(true);
    expect(inWindow(w(), new Date('2026-06-01T23:30:00Z'))).toBe(false); // end is exclusive
    expect(inWindow(w(), new Date('2026-06-01T21:59:00Z'))).toBe(false);
    expect(inWindow(w(), new Date('2026-06-06T22:15:00Z'))).toBe(false); // Saturday
    // Europe/Berlin is UTC+2 in June: 22:15 local = 20:15Z.
    const berlin = w({ timeZone: 'Europe/Berlin' });
    expect(inWindow(berlin, new Date('2026-06-01T20:15:00Z'))).toBe(true);
    expect(inWindow(berlin, new Date('2026-06-01T22:15:00Z'))).toBe(false);
  });

  it('crosses midnight when end is before start (the window belongs to the day it opens)', () => {
    const night = w({ days: [5], start: '23:00', end: '02:00' }); // Friday night
    expect(windowLengthMs(night)).toBe(3 * 3_600_000);
    expect(inWindow(night, new Date('2026-06-05T23:30:00Z'))).toBe(true); // Friday
    expect(inWindow(night, new Date('2026-06-06T01:30:00Z'))).toBe(true); // Saturday early
    expect(inWindow(night, new Date('2026-06-06T23:30:00Z'))).toBe(false); // Saturday night
  });

  it('finds the next opening, across days and DST', () => {
    expect(nextOpening(w(), new Date('2026-06-01T23:45:00Z')).toISOString()).toBe('2026-06-02T22:00:00.000Z');
    expect(nextOpening(w(), new Date('2026-06-05T23:45:00Z')).toISOString()).toBe('2026-06-08T22:00:00.000Z');
    const ny = w({ days: [0], start: '03:00', end: '04:00', timeZone: 'America/New_York' });
    // 2026-03-08 is the Sunday DST starts in New York (EST → EDT): 03:00 local = 07:00Z.
    expect(nextOpening(ny, new Date('2026-03-07T12:00:00Z')).toISOString()).toBe('2026-03-08T07:00:00.000Z');
    // A week earlier, still EST: 03:00 local = 08:00Z.
    expect(nextOpening(ny, new Date('2026-02-28T12:00:00Z')).toISOString()).toBe('2026-03-01T08:00:00.000Z');
  });

  it('defers a scheduled change to a random point of the first half of the next opening; none inside', () => {
    const now = new Date('2026-06-01T12:00:00Z');
    expect(deferToWindow(null, now)).toBeNull();
    expect(deferToWindow(w(), new Date('2026-06-01T22:10:00Z'))).toBeNull();
    expect(deferToWindow(w(), now, () => 0)!.toISOString()).toBe('2026-06-01T22:00:00.000Z');
    expect(deferToWindow(w(), now, () => 0.999)!.getTime()).toBeLessThan(Date.parse('2026-06-01T22:45:00Z'));
    // Many waiting changes spread over the window instead of one spike.
    const times = new Set(Array.from({ length: 100 }, () => deferToWindow(w(), now)!.getTime()));
    expect(times.size).toBeGreaterThan(90);
  });
});
