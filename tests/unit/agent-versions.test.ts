import { describe, expect, it } from 'vitest';
import {
  compareVersions,
  defaultAgentVersionRange,
  isSemver,
  unsupportedReason,
  versionStatus,
} from '../../shared/agent-versions.js';

describe('agent versions', () => {
  it('orders versions as semver does (prereleases before their release, build metadata ignored)', () => {
    const ordered = [
      '0.0.9',
      '0.1.0-alpha',
      '0.1.0-alpha.1',
      '0.1.0-alpha.beta',
      '0.1.0-beta.2',
      '0.1.0-beta.11',
      '0.1.0-rc.1',
      '0.1.0',
      '0.1.1',
      '0.10.0',
      '1.0.0',
      '10.0.0',
    ];
    for (let i = 0; i < ordered.length - 1; i++) {
      expect(compareVersions(ordered[i]!, ordered[i + 1]!), `${ordered[i]} < ${ordered[i + 1]}`).toBeLessThan(
        0,
      );
      expect(compareVersions(ordered[i + 1]!, ordered[i]!)).toBeGreaterThan(0);
    }
    expect(compareVersions('1.2.3+build.7', '1.2.3')).toBe(0);
  });

  it.each(['1', '1.2', '01.2.3', '1.2.3-', 'v1.2.3', 'nightly', '1.2.3.4', ''])(
    '%j is not a version',
    (v) => {
      expect(isSemver(v)).toBe(false);
      expect(() => compareVersions(v, '1.0.0')).toThrow(/not a semantic version/);
    },
  );

  it('defaults: first compatible release (X.0.0, or 0.Y.0 before 1.0) up to the coordinator itself', () => {
    expect(defaultAgentVersionRange('0.4.2')).toEqual({ min: '0.4.0', max: '0.4.2', latest: '0.4.2' });
    expect(defaultAgentVersionRange('2.3.1')).toEqual({ min: '2.0.0', max: '2.3.1', latest: '2.3.1' });
    // A bound given alone moves the other when they would cross; latest stays inside the range.
    expect(defaultAgentVersionRange('0.4.2', { min: '0.5.0' })).toEqual({
      min: '0.5.0',
      max: '0.5.0',
      latest: '0.5.0',
    });
    expect(defaultAgentVersionRange('0.4.2', { max: '0.3.0' })).toEqual({
      min: '0.3.0',
      max: '0.3.0',
      latest: '0.3.0',
    });
    expect(defaultAgentVersionRange('0.4.2', { max: '0.9.0' })).toEqual({
      min: '0.4.0',
      max: '0.9.0',
      latest: '0.4.2',
    });
  });

  it('status and reason of each kind of agent', () => {
    const range = { min: '0.4.0', max: '0.5.0', latest: '0.4.2' };
    expect(versionStatus('0.4.2', range)).toBe('up_to_date');
    expect(versionStatus('0.5.0', range)).toBe('up_to_date');
    expect(versionStatus('0.4.1', range)).toBe('update_available');
    expect(versionStatus('0.4.0', range)).toBe('update_available');
    expect(versionStatus('0.4.0-rc.1', range)).toBe('unsupported');
    expect(versionStatus('0.5.1', range)).toBe('unsupported');
    expect(versionStatus('test', range)).toBe('unsupported');
    expect(unsupportedReason('0.4.1', range)).toBeUndefined();
    expect(unsupportedReason('0.3.9', range)).toBe(
      'agent version 0.3.9 is too old for this coordinator (supported: 0.4.0 to 0.5.0): upgrade the agent',
    );
    expect(unsupportedReason('0.6.0', range)).toMatch(
      /newer than this coordinator supports .*upgrade the coordinator first/,
    );
    expect(unsupportedReason('test', range)).toMatch(/'test' is not a semantic version/);
  });
});
