import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { stopDeadlineMs } from '../agent.js';
import { ok, warn, type Finding } from './finding.js';

export const UNIT_NAME = 'sync-agent.service';
/** Where the package installs the unit, then where an administrator may override it. */
const UNIT_DIRS = ['/usr/lib/systemd/system', '/lib/systemd/system', '/etc/systemd/system'];

/** A systemd time span in ms ("90", "90s", "1min 30s", "500ms"); undefined for "infinity" or unknown. */
export function parseTimeSpan(text: string): number | undefined {
  const units: Record<string, number> = { ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000 };
  const parts = text.trim().match(/^(\s*\d+(?:\.\d+)?\s*(ms|s|sec|m|min|h)?)+$/);
  if (!parts) return undefined;
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)\s*(ms|sec|min|s|m|h)?/g))
    total += Number(m[1]) * units[m[2] ?? 's']!;
  return total;
}

/** The last TimeoutStopSec= the unit and its drop-ins set, as systemd would read them. */
async function timeoutStopSec(
  unitDirs: readonly string[],
): Promise<{ value: string; file: string } | undefined> {
  let found: { value: string; file: string } | undefined;
  const files: string[] = [];
  for (const dir of unitDirs) files.push(path.join(dir, UNIT_NAME));
  for (const dir of unitDirs) {
    const dropIns = path.join(dir, `${UNIT_NAME}.d`);
    const names = await readdir(dropIns).catch(() => [] as string[]);
    files.push(
      ...names
        .filter((n) => n.endsWith('.conf'))
        .sort()
        .map((n) => path.join(dropIns, n)),
    );
  }
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    for (const m of text.matchAll(/^\s*TimeoutStopSec\s*=\s*(.*?)\s*$/gm)) found = { value: m[1]!, file };
  }
  return found;
}

/**
 * systemd waits TimeoutStopSec for the agent to stop, then kills it: that must cover the grace
 * its jobs get (AGENT_SHUTDOWN_GRACE_MS) and handing back what is left. Nothing when no unit is
 * installed (the agent does not run under systemd here).
 */
export async function checkStopTimeout(graceMs: number, unitDirs = UNIT_DIRS): Promise<Finding[]> {
  const setting = await timeoutStopSec(unitDirs);
  if (!setting) return [];
  const needed = stopDeadlineMs(graceMs);
  const ms = setting.value === 'infinity' ? Number.POSITIVE_INFINITY : parseTimeSpan(setting.value);
  if (ms === undefined) return [];
  const check = 'service stop time';
  const seconds = Math.ceil(needed / 1000);
  if (ms < needed) {
    return [
      warn(
        check,
        `TimeoutStopSec=${setting.value} (${setting.file}) is shorter than the ${seconds} s the agent may need ` +
          `to finish or hand back its jobs with AGENT_SHUTDOWN_GRACE_MS=${graceMs}: systemd would kill it, ` +
          'and its jobs would wait for their locks to expire',
        `systemctl edit sync-agent, and set [Service] TimeoutStopSec=${seconds}`,
      ),
    ];
  }
  return [ok(check, `TimeoutStopSec=${setting.value} covers the ${seconds} s a stop may take`)];
}
