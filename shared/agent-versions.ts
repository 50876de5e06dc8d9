/**
 * Agent versions the coordinator supports. Versions are semantic versions (`MAJOR.MINOR.PATCH`, an
 * optional `-prerelease`, an ignored `+build`), compared as semver.org says: 0.1.0-rc.1 < 0.1.0.
 */
import { z } from 'zod';

const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

interface Parsed {
  core: [number, number, number];
  pre: string[];
}

function parse(version: string): Parsed | null {
  const m = SEMVER.exec(version.trim());
  if (!m) return null;
  return { core: [Number(m[1]), Number(m[2]), Number(m[3])], pre: m[4] ? m[4].split('.') : [] };
}

export const isSemver = (version: string): boolean => parse(version) !== null;

/** A semantic version as an environment or API string. */
export const SemverSchema = z.string().trim().refine(isSemver, {
  message: 'expected a version like 1.4.2 (MAJOR.MINOR.PATCH, optionally -prerelease)',
});

function comparePre(a: string[], b: string[]): number {
  // A release sorts after its prereleases.
  if (a.length === 0 || b.length === 0) return b.length - a.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (x === y) continue;
    const xn = /^\d+$/.test(x);
    const yn = /^\d+$/.test(y);
    if (xn && yn) return Number(x) - Number(y);
    if (xn !== yn) return xn ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

/** <0, 0 or >0 as `a` is older than, equal to or newer than `b`; throws on a version that is not semver. */
export function compareVersions(a: string, b: string): number {
  const pa = parse(a);
  const pb = parse(b);
  if (!pa || !pb) throw new Error(`not a semantic version: ${pa ? b : a}`);
  for (let i = 0; i < 3; i++) {
    const d = pa.core[i]! - pb.core[i]!;
    if (d !== 0) return Math.sign(d);
  }
  return Math.sign(comparePre(pa.pre, pb.pre));
}

const older = (a: string, b: string): string => (compareVersions(a, b) <= 0 ? a : b);
const newer = (a: string, b: string): string => (compareVersions(a, b) >= 0 ? a : b);

/** The agent versions a coordinator takes claims from, both ends included, and the newest it knows. */
export interface AgentVersionRange {
  min: string;
  max: string;
  /** The coordinator's own version, kept inside [min, max]: an agent at or above it is up to date. */
  latest: string;
}

export const AgentVersionRangeSchema = z.object({ min: z.string(), max: z.string(), latest: z.string() });

export const VERSION_STATUSES = ['up_to_date', 'update_available', 'unsupported'] as const;
export type VersionStatus = (typeof VERSION_STATUSES)[number];
export const VersionStatusSchema = z.enum(VERSION_STATUSES);

/**
 * The range a coordinator of version `coordinatorVersion` supports unless AGENT_MIN_VERSION /
 * AGENT_MAX_VERSION say otherwise: from the first release that is compatible by semver (`X.0.0`
 * for X ≥ 1; `0.Y.0` before 1.0, where a minor version may break) up to its own version (a newer
 * agent may speak a protocol this coordinator does not know).
 */
export function defaultAgentVersionRange(
  coordinatorVersion: string,
  overrides: { min?: string | undefined; max?: string | undefined } = {},
): AgentVersionRange {
  const parsed = parse(coordinatorVersion);
  if (!parsed) throw new Error(`not a semantic version: ${coordinatorVersion}`);
  const [major, minor] = parsed.core;
  const firstCompatible = major >= 1 ? `${major}.0.0` : `0.${minor}.0`;
  // A bound given alone moves the other default when they would cross.
  const min = overrides.min ?? older(firstCompatible, overrides.max ?? firstCompatible);
  const max = overrides.max ?? newer(coordinatorVersion, min);
  let latest = coordinatorVersion;
  if (compareVersions(latest, min) < 0) latest = min;
  if (compareVersions(latest, max) > 0) latest = max;
  return { min, max, latest };
}

/** Where an agent of `version` stands: a version that is not semver is unsupported. */
export function versionStatus(version: string, range: AgentVersionRange): VersionStatus {
  if (!isSemver(version)) return 'unsupported';
  if (compareVersions(version, range.min) < 0 || compareVersions(version, range.max) > 0)
    return 'unsupported';
  return compareVersions(version, range.latest) >= 0 ? 'up_to_date' : 'update_available';
}

/** Why an agent of `version` may not claim, for its log and the operator; undefined when it may. */
export function unsupportedReason(version: string, range: AgentVersionRange): string | undefined {
  if (versionStatus(version, range) !== 'unsupported') return undefined;
  const supported = `supported: ${range.min} to ${range.max}`;
  if (!isSemver(version)) return `agent version '${version}' is not a semantic version (${supported})`;
  if (compareVersions(version, range.min) < 0)
    return `agent version ${version} is too old for this coordinator (${supported}): upgrade the agent`;
  return (
    `agent version ${version} is newer than this coordinator supports (${supported}): upgrade the ` +
    'coordinator first, or widen AGENT_MAX_VERSION'
  );
}
