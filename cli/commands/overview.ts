import type { OverviewView } from '../../shared/contracts/api.js';
import { table } from '../format.js';
import { apiPath, type Command } from './command.js';

export const overviewCommands: Command[] = [
  {
    name: 'summary',
    summary: 'counts per status, overall and per site',
    async handler({ api, out }) {
      const s = await api.call<{
        byStatus: Record<string, number>;
        suspended: number;
        sites: { name: string; byStatus: Record<string, number> }[];
      }>('GET', apiPath('/summary'));
      out(s, () =>
        [
          table(
            [{ site: 'ALL', ...s.byStatus }, ...s.sites.map((x) => ({ site: x.name, ...x.byStatus }))],
            ['site', ...Object.keys(s.byStatus)],
          ),
          `suspended by error: ${s.suspended}`,
        ].join('\n'),
      );
      return 0;
    },
  },
  {
    name: 'overview',
    summary:
      "the dashboard's buckets (Active, With Issues, Suspended by Error, Not Configured) and each site's latest sync",
    async handler({ api, out }) {
      const o = await api.call<OverviewView>('GET', apiPath('/overview'));
      const b = o.buckets;
      out(o, () =>
        [
          table(
            [
              {
                bucket: 'Active',
                count: b.active,
                meaning: `jobs running now (${b.queued} queued, ${b.delayed} waiting to retry)`,
              },
              {
                bucket: 'With Issues',
                count: b.withIssues,
                meaning: `runs that ended partial or failed, last ${b.withIssuesDays} days`,
              },
              {
                bucket: 'Suspended by Error',
                count: b.suspended,
                meaning: 'not scheduled until an operator acts (credentials resume ID)',
              },
              { bucket: 'Not Configured', count: b.notConfigured, meaning: 'sync disabled or no adapter' },
              { bucket: 'Runs in progress', count: b.runsInProgress, meaning: 'sync runs not finished yet' },
            ],
            ['bucket', 'count', 'meaning'],
          ),
          '',
          table(
            o.sites.map((x) => ({
              site: x.name,
              id: x.siteId,
              enabled: x.enabled,
              agents: `${x.agents.online}/${x.agents.total} online`,
              active: x.jobs?.active,
              queued: x.jobs?.queued,
              lastSync: x.lastSyncAt,
              lastVerified: x.lastVerifiedAt,
              last24h: `${x.last24h.ok} ok, ${x.last24h.failed} failed`,
              latestRun: x.latestRun ? (x.latestRun.finishedAt ? x.latestRun.outcome : 'running') : null,
              impacted: x.latestRun?.counts.impacted,
              success: x.latestRun?.counts.success,
              unsynced: x.latestRun?.counts.unsynced,
              partial: x.latestRun?.counts.partial,
              failed: x.latestRun?.counts.failed,
            })),
            [
              'site',
              'id',
              'enabled',
              'agents',
              'active',
              'queued',
              'lastSync',
              'lastVerified',
              'last24h',
              'latestRun',
              'impacted',
              'success',
              'unsynced',
              'partial',
              'failed',
            ],
          ),
        ].join('\n'),
      );
      return 0;
    },
  },
];
