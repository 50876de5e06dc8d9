import { api } from '../api.js';
import { h, num, refreshRegion, timeEl } from '../dom.js';
import { DISPLAY_ORDER, STATUS_HELP, STATUS_LABELS, type Overview, type Summary } from '../model.js';
import type { Page } from '../page.js';
import {
  credentialsHref,
  last24hText,
  legend,
  outcomeBadge,
  runsChart,
  statusBar,
  statusDonut,
} from '../ui.js';

export const overviewPage: Page = async ({ root }) => {
  const body = h('div', {});
  root.append(
    h(
      'div',
      { class: 'page-head' },
      h('h1', {}, 'Overview'),
      h('p', { class: 'muted' }, 'Counts refresh every few seconds.'),
    ),
    body,
  );
  const load = async () => {
    const [summary, overview] = await Promise.all([
      api.get<Summary>('/summary'),
      api.get<Overview>('/overview?bucket=hour'),
    ]);
    refreshRegion(body, ...view(summary, overview));
  };
  await load();
  return { title: 'Overview', refresh: load };
};

function bucket(opts: {
  key: string;
  label: string;
  value: number;
  href: string;
  help: string;
  tone: string;
  extra?: string;
}) {
  return h(
    'a',
    {
      class: `bucket tone-${opts.tone}`,
      href: opts.href,
      'data-key': opts.key,
      'data-testid': `bucket-${opts.key}`,
    },
    h('span', { class: 'bucket-label' }, opts.label),
    h('span', { class: 'bucket-value' }, num(opts.value)),
    h('span', { class: 'bucket-help' }, opts.help),
    opts.extra ? h('span', { class: 'bucket-extra' }, opts.extra) : null,
  );
}

function view(summary: Summary, overview: Overview) {
  const b = overview.buckets;
  const total = DISPLAY_ORDER.reduce((n, s) => n + (summary.byStatus[s] ?? 0), 0);
  return [
    issuesList(overview.issues),
    h(
      'section',
      { class: 'buckets', 'aria-label': 'Synchronization status' },
      bucket({
        key: 'active',
        label: 'Active',
        value: b.active,
        // The list shows a verification once it has run for half a second (PostgreSQL's job state);
        // the count is the queues' own, from the moment an agent claims the job.
        href: credentialsHref({ jobState: 'active' }),
        help: 'jobs agents run now',
        tone: 'blue',
        extra: [
          `${num(b.queued)} queued`,
          b.delayed ? `${num(b.delayed)} waiting to retry` : null,
          `${num(b.runsInProgress)} runs in progress`,
          b.jobsFrom === 'database' ? 'queues unavailable: from the database' : null,
        ]
          .filter(Boolean)
          .join(' · '),
      }),
      bucket({
        key: 'issues',
        label: 'With Issues',
        value: b.withIssues,
        href: `#/runs?outcome=issues&days=${b.withIssuesDays}`,
        help: `runs that ended partial or failed (${b.withIssuesDays} days)`,
        tone: 'amber',
      }),
      bucket({
        key: 'suspended',
        label: 'Suspended by Error',
        value: b.suspended,
        href: credentialsHref({ suspended: 'true' }),
        help: 'not scheduled until an operator acts',
        tone: 'red',
      }),
      bucket({
        key: 'not-configured',
        label: 'Not Configured',
        value: b.notConfigured,
        href: credentialsHref({ status: 'not_synced' }),
        help: 'sync disabled or no adapter',
        tone: 'gray',
      }),
    ),
    h(
      'section',
      { class: 'card status-card', 'aria-labelledby': 'all-statuses' },
      h('h2', { id: 'all-statuses' }, 'All credentials by status'),
      h(
        'div',
        { class: 'status-grid' },
        statusDonut(summary.byStatus),
        h(
          'ul',
          { class: 'status-counts' },
          DISPLAY_ORDER.map((s) =>
            h(
              'li',
              {},
              h(
                'a',
                {
                  href: credentialsHref({ status: s }),
                  class: `count-link`,
                  'data-key': `count-${s}`,
                  'data-testid': `count-${s}`,
                  title: STATUS_HELP[s],
                },
                h('span', { class: `swatch fill-${s}`, 'aria-hidden': 'true' }),
                h('span', { class: 'count-label' }, STATUS_LABELS[s]),
                h('span', { class: 'count-value' }, num(summary.byStatus[s] ?? 0)),
                h(
                  'span',
                  { class: 'count-pct muted' },
                  total
                    ? `${(((summary.byStatus[s] ?? 0) / total) * 100).toFixed(total < 1000 ? 0 : 1)}%`
                    : '',
                ),
              ),
            ),
          ),
        ),
      ),
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'per-site' },
      h('h2', { id: 'per-site' }, 'Per site'),
      summary.sites.length === 0
        ? h('p', { class: 'muted' }, 'No sites yet: create one with syncctl sites create NAME.')
        : h(
            'div',
            { class: 'table-wrap' },
            h(
              'table',
              { class: 'site-matrix' },
              h(
                'caption',
                { class: 'sr-only' },
                'Credentials per site and status; each number opens the list',
              ),
              h(
                'thead',
                {},
                h(
                  'tr',
                  {},
                  h('th', { scope: 'col' }, 'Site'),
                  h('th', { scope: 'col' }, 'Mix'),
                  DISPLAY_ORDER.map((s) =>
                    h(
                      'th',
                      { scope: 'col', class: 'num' },
                      h('span', { class: `swatch fill-${s}`, 'aria-hidden': 'true' }),
                      STATUS_LABELS[s],
                    ),
                  ),
                  h('th', { scope: 'col' }, 'Last sync'),
                  h('th', { scope: 'col' }, 'Last 24 h'),
                ),
              ),
              h(
                'tbody',
                {},
                summary.sites.map((site) =>
                  h(
                    'tr',
                    {},
                    h(
                      'th',
                      { scope: 'row' },
                      h(
                        'a',
                        { href: `#/sites?site=${site.siteId}`, 'data-key': `site-${site.siteId}` },
                        site.name,
                      ),
                      site.enabled ? null : h('span', { class: 'badge st-agent_disabled small' }, 'disabled'),
                    ),
                    h('td', { class: 'mix' }, statusBar(site.byStatus, site.name)),
                    DISPLAY_ORDER.map((s) => {
                      const n = site.byStatus[s] ?? 0;
                      return h(
                        'td',
                        { class: 'num' },
                        n
                          ? h(
                              'a',
                              {
                                href: credentialsHref({ siteId: site.siteId, status: s }),
                                'data-key': `site-${site.siteId}-${s}`,
                                'aria-label': `${num(n)} ${STATUS_LABELS[s]} at ${site.name}`,
                              },
                              num(n),
                            )
                          : h('span', { class: 'muted' }, '0'),
                      );
                    }),
                    h('td', {}, timeEl(site.lastSyncAt)),
                    h('td', {}, last24hText(site.last24h)),
                  ),
                ),
              ),
            ),
          ),
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'runs-24h' },
      h('h2', { id: 'runs-24h' }, 'Sync runs, last 24 hours'),
      runsChart(overview.runsOverTime.points, 'hour'),
      legend([
        { label: 'Success', cls: 'oc-fill-success' },
        { label: 'Partial success', cls: 'oc-fill-partial' },
        { label: 'Failure', cls: 'oc-fill-failure' },
        { label: 'Running', cls: 'oc-fill-running' },
      ]),
      h(
        'ul',
        { class: 'site-runs' },
        overview.sites
          .filter((s) => s.latestRun)
          .map((s) =>
            h(
              'li',
              {},
              h('strong', {}, s.name),
              ': latest run ',
              h(
                'a',
                { href: `#/runs/${s.latestRun!.id}`, title: s.latestRun!.scopeName ?? 'everything' },
                timeEl(s.latestRun!.startedAt),
              ),
              ' ',
              outcomeBadge(s.latestRun!.finishedAt ? s.latestRun!.outcome : null),
            ),
          ),
      ),
      h('p', {}, h('a', { href: '#/runs' }, 'All sync runs →')),
    ),
  ];
}

/** Agents offline and sites no agent can work for, each opening its site; nothing when all is well. */
function issuesList(issues: Overview['issues']) {
  const siteLink = (siteId: string, name: string) =>
    h('a', { href: `#/sites?site=${siteId}`, 'data-key': `issue-site-${siteId}` }, name);
  const items = [
    ...issues.sitesWithoutAgent.map((s) =>
      h(
        'li',
        { 'data-testid': `issue-site-${s.siteId}` },
        'No working agent at ',
        siteLink(s.siteId, s.name),
        ' since ',
        timeEl(s.since),
      ),
    ),
    ...issues.agentsOffline.map((a) =>
      h(
        'li',
        { 'data-testid': `issue-agent-${a.agentId}` },
        'Agent ',
        h('strong', {}, a.name),
        ' offline since ',
        timeEl(a.since),
        ' at ',
        siteLink(a.siteId, a.siteName),
      ),
    ),
  ];
  if (!items.length) return null;
  return h(
    'section',
    { class: 'card issues', 'aria-labelledby': 'overview-issues' },
    h('h2', { id: 'overview-issues' }, 'Needs attention'),
    h('ul', {}, items),
  );
}
