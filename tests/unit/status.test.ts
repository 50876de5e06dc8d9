import { describe, expect, it } from 'vitest';
import type { Reason, Status } from '../../shared/contracts/status.js';
import { deriveStatus, type StatusFacts } from '../../coordinator/credentials/status.js';

const now = new Date('2026-06-01T12:00:00Z');
const hoursAgo = (h: number) => new Date(now.getTime() - h * 3_600_000);

const base: StatusFacts = {
  syncEnabled: true,
  adapterAssigned: true,
  capabilities: { verify: true, change: true, changeConfigured: true },
  site: { enabled: true, agents: 1, enabledAgents: 1 },
  jobState: 'idle',
  changeWanted: false,
  lastOutcome: 'ok',
  lastReason: null,
  lastVerifiedAt: hoursAgo(1),
  verifyIntervalMs: 24 * 3_600_000,
  now,
};

const noCaps = { verify: false, change: false, changeConfigured: false };
const agentsOff = { enabled: true, agents: 2, enabledAgents: 0 };

/** [description, facts changed from `base`, expected status, expected reason] */
const table: [string, Partial<StatusFacts>, Status, Reason | null][] = [
  ['verified an hour ago', {}, 'in_sync', null],
  ['verified exactly at the interval', { lastVerifiedAt: hoursAgo(24) }, 'in_sync', null],
  ['verified longer ago than the interval', { lastVerifiedAt: hoursAgo(25) }, 'out_of_sync', 'stale'],
  // Pending until its first result (its first verification is queued when it is created).
  ['never checked, nothing queued yet', { lastOutcome: null, lastVerifiedAt: null }, 'pending_sync', null],
  [
    'never checked, cannot be verified (change only)',
    {
      lastOutcome: null,
      lastVerifiedAt: null,
      capabilities: { verify: false, change: true, changeConfigured: true },
    },
    'out_of_sync',
    'stale',
  ],
  [
    'never checked, its site lost its agents',
    { lastOutcome: null, lastVerifiedAt: null, site: agentsOff },
    'agent_disabled',
    null,
  ],
  [
    'custom interval of 1 h, verified 2 h ago',
    { verifyIntervalMs: 3_600_000, lastVerifiedAt: hoursAgo(2) },
    'out_of_sync',
    'stale',
  ],
  ['last result mismatch', { lastOutcome: 'failed', lastReason: 'mismatch' }, 'out_of_sync', 'mismatch'],
  [
    'last result unreachable',
    { lastOutcome: 'failed', lastReason: 'unreachable' },
    'out_of_sync',
    'unreachable',
  ],
  [
    'last result locked',
    { lastOutcome: 'failed', lastReason: 'locked_or_disabled' },
    'out_of_sync',
    'locked_or_disabled',
  ],
  [
    'web page changed',
    { lastOutcome: 'failed', lastReason: 'workflow_failed' },
    'out_of_sync',
    'workflow_failed',
  ],
  ['change refused', { lastOutcome: 'failed', lastReason: 'change_failed' }, 'out_of_sync', 'change_failed'],
  [
    'change uncertain',
    { lastOutcome: 'failed', lastReason: 'change_outcome_unknown' },
    'out_of_sync',
    'change_outcome_unknown',
  ],
  ['failure without a reason', { lastOutcome: 'failed', lastReason: null }, 'out_of_sync', 'error'],
  ['job queued', { jobState: 'queued' }, 'pending_sync', null],
  ['job running', { jobState: 'active' }, 'being_synced', null],
  [
    'change wanted, change not mapped',
    { changeWanted: true, capabilities: { verify: true, change: true, changeConfigured: false } },
    'change_not_configured',
    null,
  ],
  [
    'change wanted, no change capability',
    { changeWanted: true, capabilities: { verify: true, change: false, changeConfigured: false } },
    'change_not_configured',
    null,
  ],
  ['change wanted and configured', { changeWanted: true }, 'in_sync', null],
  [
    'not mapped but no change wanted',
    { capabilities: { verify: true, change: true, changeConfigured: false } },
    'in_sync',
    null,
  ],
  ['adapter can neither verify nor change', { capabilities: noCaps }, 'unsyncable', null],
  // `agents` = agents ever enrolled at the site (revoked included); `enabledAgents` = those that can
  // take jobs now (enabled, approved, not revoked): see store/sites.ts siteFacts.
  ['every agent of the site disabled', { site: agentsOff }, 'agent_disabled', null],
  [
    'every agent of the site revoked, none left',
    { site: { enabled: true, agents: 1, enabledAgents: 0 }, jobState: 'queued' },
    'agent_disabled',
    null,
  ],
  [
    'the only agent awaits approval',
    { site: { enabled: true, agents: 1, enabledAgents: 0 }, jobState: 'queued' },
    'agent_disabled',
    null,
  ],
  [
    'one agent of several can work',
    { site: { enabled: true, agents: 3, enabledAgents: 1 }, jobState: 'queued' },
    'pending_sync',
    null,
  ],
  ['site disabled', { site: { enabled: false, agents: 1, enabledAgents: 1 } }, 'agent_disabled', null],
  [
    'site without any agent yet: work waits',
    { site: { enabled: true, agents: 0, enabledAgents: 0 }, jobState: 'queued' },
    'pending_sync',
    null,
  ],
  ['sync disabled', { syncEnabled: false }, 'not_synced', null],
  ['no adapter for the kind', { adapterAssigned: false }, 'not_synced', null],
  // Precedence: each row pits a status against the one just below it.
  ['not_synced over unsyncable', { syncEnabled: false, capabilities: noCaps }, 'not_synced', null],
  ['unsyncable over agent_disabled', { capabilities: noCaps, site: agentsOff }, 'unsyncable', null],
  ['agent_disabled over being_synced', { site: agentsOff, jobState: 'active' }, 'agent_disabled', null],
  [
    'being_synced over pending_sync (active wins)',
    { jobState: 'active', changeWanted: true },
    'being_synced',
    null,
  ],
  [
    'pending_sync over change_not_configured',
    {
      jobState: 'queued',
      changeWanted: true,
      capabilities: { verify: true, change: false, changeConfigured: false },
    },
    'pending_sync',
    null,
  ],
  [
    'change_not_configured over in_sync',
    { changeWanted: true, capabilities: { verify: true, change: true, changeConfigured: false } },
    'change_not_configured',
    null,
  ],
  [
    'change_not_configured over out_of_sync',
    {
      changeWanted: true,
      lastOutcome: 'failed',
      lastReason: 'mismatch',
      capabilities: { verify: true, change: true, changeConfigured: false },
    },
    'change_not_configured',
    null,
  ],
  [
    'in_sync over out_of_sync: a fresh ok wins over an old failure reason',
    { lastOutcome: 'ok', lastReason: null },
    'in_sync',
    null,
  ],
];

describe('deriveStatus', () => {
  it.each(table)('%s', (_name, facts, status, reason) => {
    expect(deriveStatus({ ...base, ...facts })).toEqual({ status, reason });
  });

  it('is pure: the same facts give the same answer and are not changed', () => {
    const facts = { ...base, lastOutcome: 'failed' as const, lastReason: 'unreachable' as const };
    const copy = structuredClone(facts);
    expect(deriveStatus(facts)).toEqual(deriveStatus(facts));
    expect(facts).toEqual(copy);
  });
});
