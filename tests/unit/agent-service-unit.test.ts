/**
 * The systemd unit and configuration file the Debian package installs (packaging/deb/), checked
 * with systemd's own tools and against what the agent needs.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { stopDeadlineMs } from '../../agent/agent.js';
import { DEFAULT_SHUTDOWN_GRACE_MS, loadAgentConfig } from '../../agent/config.js';
import { parseEnvFile } from '../../agent/env-file.js';
import { AGENT_NODE_FLAGS } from '../../agent/node-flags.js';
import { readUnit } from '../support/debian.js';
import { REPO_ROOT } from '../support/paths.js';

const UNIT = join(REPO_ROOT, 'packaging', 'deb', 'sync-agent.service');
const ENV_FILE = join(REPO_ROOT, 'packaging', 'deb', 'agent.env');
const analyze = spawnSync('sh', ['-c', 'command -v systemd-analyze']).stdout.toString().trim();

describe('the sync-agent systemd unit', () => {
  const unit = readUnit(UNIT);
  const values = (key: string) => unit.all.filter(([k]) => k === key).map(([, v]) => v);

  it.skipIf(!analyze)(
    `systemd-analyze verify accepts it with no warning${analyze ? '' : ' (skipped: systemd-analyze is not installed; apt-get install systemd)'}`,
    () => {
      const res = spawnSync(analyze, ['verify', UNIT], { encoding: 'utf8' });
      expect(res.stderr.trim()).toBe('');
      expect(res.status).toBe(0);
    },
  );

  it.skipIf(!analyze)('systemd-analyze security rates its sandbox OK (exposure at most 2.0)', () => {
    const res = spawnSync(analyze, ['security', '--offline=yes', '--threshold=20', '--no-pager', UNIT], {
      encoding: 'utf8',
    });
    const score = /Overall exposure level for sync-agent\.service: ([\d.]+)/.exec(res.stdout)?.[1];
    expect(Number(score), res.stdout.slice(-400)).toBeLessThanOrEqual(2.0);
    expect(res.status).toBe(0);
  });

  it('runs as sync-agent, hardened, writing only its state folder, restarted on failure', () => {
    expect(unit.user).toBe('sync-agent');
    expect(unit.environmentFile).toBe('/etc/sync-agent/agent.env');
    for (const [key, value] of [
      ['NoNewPrivileges', 'yes'],
      ['ProtectSystem', 'strict'],
      ['ProtectHome', 'yes'],
      ['PrivateTmp', 'yes'],
      ['Restart', 'on-failure'],
      ['KillSignal', 'SIGTERM'],
    ]) {
      expect(values(key!), key).toEqual([value]);
    }
    expect(values('ReadWritePaths')).toEqual(['/var/lib/sync-agent']);
    expect(unit.execStart).toEqual([
      '/usr/bin/node',
      ...AGENT_NODE_FLAGS,
      '/usr/lib/sync-agent/dist/agent/main.js',
      'run',
    ]);
  });

  it('TimeoutStopSec (and Compose’s stop_grace_period) leave the agent time to finish or hand back its jobs', () => {
    expect(unit.timeoutStopMs).toBeGreaterThanOrEqual(stopDeadlineMs(DEFAULT_SHUTDOWN_GRACE_MS));
    const compose = parse(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8')) as {
      services: { agent: { stop_grace_period: string } };
    };
    const grace = /^(\d+)s$/.exec(compose.services.agent.stop_grace_period)?.[1];
    expect(Number(grace) * 1000).toBeGreaterThanOrEqual(stopDeadlineMs(DEFAULT_SHUTDOWN_GRACE_MS));
  });

  it('the configuration file it reads is valid once COORDINATOR_URL is set, with the state folder the unit allows', () => {
    const settings = parseEnvFile(readFileSync(ENV_FILE, 'utf8'), ENV_FILE);
    expect(settings.COORDINATOR_URL).toBeUndefined();
    const config = loadAgentConfig({ ...settings, COORDINATOR_URL: 'https://sync.example.com' });
    expect(config.stateDir).toBe(unit.workingDirectory);
    expect(values('ReadWritePaths')).toEqual([config.stateDir]);
  });
});
