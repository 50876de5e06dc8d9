import { z } from 'zod';

/**
 * A maintenance window: the days and local hours (in an IANA time zone) when scheduled changes may
 * start. `end` at or before `start` crosses midnight (the window belongs to the day it opens).
 * On-demand changes ignore it.
 */
const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, { message: 'expected HH:MM (00:00-23:59)' });

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export const MaintenanceWindowSchema = z
  .strictObject({
    /** 0 = Sunday … 6 = Saturday, local to `timeZone`. */
    days: z
      .array(z.number().int().min(0).max(6))
      .min(1)
      .max(7)
      .refine((d) => new Set(d).size === d.length, { message: 'each day once' }),
    start: hhmm,
    end: hhmm,
    timeZone: z.string().min(1).max(100).refine(isTimeZone, { message: 'not an IANA time zone' }),
  })
  .refine((w) => w.start !== w.end, { path: ['end'], message: 'must differ from start' });
export type MaintenanceWindow = z.output<typeof MaintenanceWindowSchema>;

const WEEKDAYS: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };
const formatters = new Map<string, Intl.DateTimeFormat>();

interface LocalParts {
  year: number;
  month: number;
  day: number;
  weekday: number;
  /** Minutes since local midnight. */
  minutes: number;
  second: number;
}

function localParts(tz: string, at: number): LocalParts {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      weekday: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(tz, f);
  }
  const p: Record<string, string> = {};
  for (const part of f.formatToParts(at)) p[part.type] = part.value;
  return {
    year: Number(p.year),
    month: Number(p.month),
    day: Number(p.day),
    weekday: WEEKDAYS[p.weekday!]!,
    minutes: Number(p.hour) * 60 + Number(p.minute),
    second: Number(p.second),
  };
}

/** The UTC offset of `tz` at instant `at`, in ms (local = UTC + offset). */
function offsetMs(tz: string, at: number): number {
  const p = localParts(tz, at);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, Math.floor(p.minutes / 60), p.minutes % 60, p.second);
  return asUtc - Math.floor(at / 1000) * 1000;
}

/** The instant a local wall-clock time happens in `tz` (in a DST gap: just after it). */
function zonedTime(tz: string, year: number, month: number, day: number, minutes: number): number {
  const wall = Date.UTC(year, month - 1, day, Math.floor(minutes / 60), minutes % 60);
  const first = wall - offsetMs(tz, wall);
  return wall - offsetMs(tz, first);
}

const toMinutes = (t: string): number => Number(t.slice(0, 2)) * 60 + Number(t.slice(3, 5));

/** Length of the window in ms. */
export function windowLengthMs(w: MaintenanceWindow): number {
  const s = toMinutes(w.start);
  const e = toMinutes(w.end);
  return (e > s ? e - s : 1440 - s + e) * 60_000;
}

/** Whether `at` falls inside an opening of the window. */
export function inWindow(w: MaintenanceWindow, at: Date): boolean {
  const p = localParts(w.timeZone, at.getTime());
  const s = toMinutes(w.start);
  const e = toMinutes(w.end);
  if (s < e) return w.days.includes(p.weekday) && p.minutes >= s && p.minutes < e;
  return (
    (w.days.includes(p.weekday) && p.minutes >= s) || (w.days.includes((p.weekday + 6) % 7) && p.minutes < e)
  );
}

/** The next instant after `at` at which the window opens. */
export function nextOpening(w: MaintenanceWindow, at: Date): Date {
  const p = localParts(w.timeZone, at.getTime());
  const start = toMinutes(w.start);
  for (let k = 0; k <= 8; k++) {
    const d = new Date(Date.UTC(p.year, p.month - 1, p.day + k));
    if (!w.days.includes(d.getUTCDay())) continue;
    const open = zonedTime(w.timeZone, d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), start);
    if (open > at.getTime()) return new Date(open);
  }
  // Unreachable with at least one day: every week has an opening within 8 days.
  throw new Error('maintenance window without an opening');
}

/**
 * When a scheduled change due now may start: null = now (inside the window); else a time in the
 * next opening, spread at random over its first half, so the changes that waited do not all start
 * at the same second (no catch-up storm).
 */
export function deferToWindow(
  w: MaintenanceWindow | null | undefined,
  now: Date,
  random: () => number = Math.random,
): Date | null {
  if (!w || inWindow(w, now)) return null;
  const open = nextOpening(w, now).getTime();
  return new Date(open + Math.floor(random() * (windowLengthMs(w) / 2)));
}
