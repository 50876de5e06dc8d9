import { api } from '../api.js';
import { confirmDialog, h, num, refreshRegion, timeEl } from '../dom.js';
import {
  DISPLAY_ORDER,
  STATUS_LABELS,
  VERSION_STATUS_LABELS,
  type Agent,
  type AgentVersions,
  type Overview,
  type Summary,
  type SyncRun,
} from '../model.js';
import { act, type Page } from '../page.js';
import { can } from '../session.js';
import { button, credentialsHref, last24hText, outcomeBadge, statusBar } from '../ui.js';
import { agentAdminButtons, newSiteButton, siteAdminButtons } from './site-admin.js';

export const sitesPage: Page = async ({ root, params }) => {
  const body = h('div', {});
  root.append(
    h(
      'div',
      { class: 'page-head' },
      h('h1', {}, 'Sites & agents'),
      h(
        'p',
        { class: 'muted' },
        'Each site’s latest results (the daily schedule’s included), its latest run, its credentials and the agents that serve it.',
      ),
      newSiteButton(() => load()),
    ),
    body,
  );
  let scrolled = false;

  const load = async () => {
    const [overview, summary, agents] = await Promise.all([
      api.get<Overview>('/overview?bucket=day'),
      api.get<Summary>('/summary'),
      api.get<{ items: Agent[]; agentVersions: AgentVersions }>('/agents'),
    ]);
    const counts = new Map(summary.sites.map((s) => [s.siteId, s.byStatus]));
    refreshRegion(
      body,
      overview.sites.length === 0 ? h('p', { class: 'muted' }, 'No sites yet.') : null,
      overview.sites.map((site) => {
        const byStatus = counts.get(site.siteId) ?? ({} as Summary['byStatus']);
        const siteAgents = agents.items.filter((a) => a.siteId === site.siteId);
        return h(
          'section',
          {
            class: `card site${params.get('site') === site.siteId ? ' site-wanted' : ''}`,
            id: `site-${site.siteId}`,
            tabindex: -1,
            'aria-labelledby': `site-title-${site.siteId}`,
          },
          h(
            'div',
            { class: 'site-head' },
            h('h2', { id: `site-title-${site.siteId}` }, site.name),
            site.enabled
              ? h('span', { class: 'badge st-in_sync' }, 'Enabled')
              : h('span', { class: 'badge st-agent_disabled' }, 'Disabled'),
            h(
              'div',
              { class: 'actions' },
              can('operator') &&
                button(
                  'Resync',
                  async () => {
                    await act(
                      `Resync ${site.name}`,
                      () =>
                        api.post<SyncRun>('/sync-runs', { kind: 'verify', scope: { siteId: site.siteId } }),
                      `Resync of ${site.name} started`,
                    );
                    await load();
                  },
                  {
                    kind: 'primary',
                    key: `resync-${site.siteId}`,
                    title: 'Verify every credential of this site now',
                  },
                ),
              !can('admin')
                ? null
                : site.enabled
                  ? button(
                      'Disable site',
                      async () => {
                        const ok = await confirmDialog({
                          title: `Disable ${site.name}?`,
                          body: [
                            h(
                              'p',
                              {},
                              `Its agents get no work and its credentials show ${STATUS_LABELS.agent_disabled} until the site is enabled again.`,
                            ),
                          ],
                          confirm: 'Disable site',
                          danger: true,
                        });
                        if (ok)
                          await act(
                            'Disable site',
                            () => api.post(`/sites/${site.siteId}/disable`),
                            `${site.name} disabled`,
                          );
                        await load();
                      },
                      { key: `site-toggle-${site.siteId}` },
                    )
                  : button(
                      'Enable site',
                      async () => {
                        await act(
                          'Enable site',
                          () => api.post(`/sites/${site.siteId}/enable`),
                          `${site.name} enabled`,
                        );
                        await load();
                      },
                      { key: `site-toggle-${site.siteId}` },
                    ),
              h(
                'a',
                { class: 'btn', href: `#/sites/${site.siteId}/report`, 'data-key': `report-${site.siteId}` },
                'Compliance report',
              ),
              siteAdminButtons(site, load),
            ),
          ),
          syncSummary(site),
          h(
            'div',
            { class: 'site-statuses' },
            statusBar(byStatus, site.name),
            h(
              'ul',
              { class: 'inline-counts' },
              DISPLAY_ORDER.filter((s) => byStatus[s]).map((s) =>
                h(
                  'li',
                  {},
                  h(
                    'a',
                    { href: credentialsHref({ siteId: site.siteId, status: s }) },
                    h('span', { class: `swatch fill-${s}`, 'aria-hidden': 'true' }),
                    `${STATUS_LABELS[s]} ${num(byStatus[s])}`,
                  ),
                ),
              ),
            ),
          ),
          h('h3', {}, `Agents (${site.agents.online} online of ${site.agents.total})`),
          agentTable(siteAgents, agents.agentVersions, load),
        );
      }),
    );
    // Opened from a link to one site (the Overview's per-site table): bring it into view and focus
    // it, once the page is on screen (the first load runs before it is attached).
    const wanted = params.get('site');
    const section = wanted ? body.querySelector<HTMLElement>(`#site-${CSS.escape(wanted)}`) : null;
    if (section && !scrolled) {
      scrolled = true;
      section.classList.add('site-wanted');
      setTimeout(() => {
        section.scrollIntoView({ block: 'start' });
        section.focus({ preventScroll: true });
      }, 0);
    }
  };
  await load();
  return { title: 'Sites & agents', refresh: load };
};

/**
 * A site's sync summary: its latest results, the daily schedule's included (last sync, last
 * verified, the last 24 hours, today's schedule entry), jobs now, and its latest run with counts.
 */
function syncSummary(site: Overview['sites'][number]): HTMLElement {
  const run = site.latestRun;
  const cell = (label: string, value: string | number | HTMLElement) =>
    h(
      'div',
      { class: 'stat' },
      h('dt', {}, label),
      h('dd', {}, typeof value === 'number' ? num(value) : value),
    );
  const runLink = (r: SyncRun | null, none: string) =>
    r
      ? h(
          'a',
          {
            href: `#/runs/${r.id}`,
            title: `${r.kind === 'change' ? 'Change' : 'Verify'} over ${r.scopeName ?? 'everything'}`,
          },
          outcomeBadge(r.finishedAt ? r.outcome : null),
        )
      : h('span', { class: 'muted' }, none);
  return h(
    'div',
    {},
    h(
      'dl',
      { class: 'sync-summary', 'aria-label': `Latest results of ${site.name}` },
      cell('Last sync', timeEl(site.lastSyncAt)),
      cell('Last verified', timeEl(site.lastVerifiedAt)),
      cell('Last 24 h', last24hText(site.last24h)),
      cell('Scheduled today', runLink(site.scheduled, 'nothing yet')),
      cell(
        'Jobs now',
        site.jobs
          ? `${num(site.jobs.active)} running · ${num(site.jobs.queued)} queued`
          : h('span', { class: 'muted' }, 'queue unavailable'),
      ),
    ),
    h(
      'dl',
      { class: 'sync-summary', 'aria-label': `Latest run of ${site.name}` },
      cell('Latest run', runLink(run, 'none yet')),
      cell('Impacted', run?.counts.impacted ?? 0),
      cell('Success', run?.counts.success ?? 0),
      cell('Unsynced', run?.counts.unsynced ?? 0),
      cell('Partial', run?.counts.partial ?? 0),
      cell('Failed', run?.counts.failed ?? 0),
    ),
  );
}

function agentTable(agents: Agent[], versions: AgentVersions, reload: () => Promise<void>): HTMLElement {
  if (agents.length === 0) {
    return h(
      'p',
      { class: 'muted' },
      'No agent enrolled: create an enrollment token (syncctl sites token SITE_ID) and start sync-agent with it.',
    );
  }
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'p',
      { class: 'muted' },
      versions.min === versions.max
        ? `Agent version ${versions.min} is supported, and the latest.`
        : `Agent versions ${versions.min} to ${versions.max} are supported; ${versions.latest} is the latest.`,
    ),
    h(
      'table',
      {},
      h('caption', { class: 'sr-only' }, 'Agents'),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Agent', 'Host', 'Version', 'Online', 'Last heartbeat', 'Jobs in flight', 'State', ''].map((x) =>
            h('th', { scope: 'col' }, x),
          ),
        ),
      ),
      h(
        'tbody',
        {},
        agents.map((a) =>
          h(
            'tr',
            { 'data-agent': a.id },
            h('th', { scope: 'row' }, a.name),
            h('td', {}, a.host),
            h(
              'td',
              {},
              a.version,
              h(
                'span',
                {
                  class: `badge small ver-${a.versionStatus}`,
                  title:
                    a.versionStatus === 'unsupported'
                      ? 'Its claims are refused: upgrade it (docs/agent-install.md)'
                      : a.versionStatus === 'update_available'
                        ? `Version ${versions.latest} is available`
                        : 'Latest version',
                },
                VERSION_STATUS_LABELS[a.versionStatus],
              ),
            ),
            h(
              'td',
              {},
              h('span', { class: `dot ${a.online ? 'dot-on' : 'dot-off'}`, 'aria-hidden': 'true' }),
              a.online ? 'Online' : 'Offline',
            ),
            h('td', {}, timeEl(a.lastHeartbeatAt)),
            h('td', { class: 'num' }, `${a.inFlight} / ${a.concurrency}`),
            h(
              'td',
              {},
              !a.approved ? 'Awaiting approval' : a.enabled ? 'Enabled' : h('strong', {}, 'Disabled'),
            ),
            h(
              'td',
              { class: 'actions' },
              !can('admin')
                ? null
                : a.enabled
                  ? button(
                      'Disable',
                      async () => {
                        await act(
                          `Disable ${a.name}`,
                          () => api.post(`/agents/${a.id}/disable`),
                          `${a.name} disabled`,
                        );
                        await reload();
                      },
                      { key: `agent-${a.id}`, ariaLabel: `Disable ${a.name}` },
                    )
                  : button(
                      'Enable',
                      async () => {
                        await act(
                          `Enable ${a.name}`,
                          () => api.post(`/agents/${a.id}/enable`),
                          `${a.name} enabled`,
                        );
                        await reload();
                      },
                      { key: `agent-${a.id}`, ariaLabel: `Enable ${a.name}` },
                    ),
              agentAdminButtons(a, reload),
            ),
          ),
        ),
      ),
    ),
  );
}
