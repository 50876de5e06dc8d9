import { api, ApiError, qs } from '../api.js';
import { duration, h, num, refreshRegion, timeEl, type Child } from '../dom.js';
import { OUTCOME_LABELS, type Overview, type Page as ApiPage, type Site, type SyncRun } from '../model.js';
import type { Page } from '../page.js';
import { button, legend, outcomeBadge, runsChart, table } from '../ui.js';

const scopeText = (run: SyncRun, sites: Map<string, string>): string => {
  const parts = [
    run.scope.siteId ? `site ${sites.get(run.scope.siteId) ?? run.scope.siteId.slice(0, 8)}` : null,
    run.scope.targetId ? `target ${run.scope.targetId.slice(0, 8)}` : null,
    run.scope.groupId ? `group ${run.scope.groupId.slice(0, 8)}` : null,
  ].filter(Boolean);
  return parts.length ? parts.join(', ') : 'everything';
};

const took = (r: SyncRun): string =>
  r.finishedAt ? duration((new Date(r.finishedAt).getTime() - new Date(r.startedAt).getTime()) / 1000) : '—';

export const runsPage: Page = async ({ root, params, setParams }) => {
  const outcome = params.get('outcome') ?? '';
  const bucket = params.get('bucket') === 'day' ? 'day' : 'hour';
  const sites = new Map((await api.get<{ items: Site[] }>('/sites')).items.map((s) => [s.id, s.name]));
  const chart = h('div', {});
  const list = h('div', {});
  const runs: SyncRun[] = [];
  let nextCursor: string | null = null;

  const outcomeSelect = h(
    'select',
    { id: 'f-outcome' },
    h('option', { value: '' }, 'All outcomes'),
    ['success', 'partial', 'failure', 'running'].map((o) =>
      h('option', { value: o, selected: o === outcome }, OUTCOME_LABELS[o]),
    ),
  );
  outcomeSelect.addEventListener('change', () => setParams({ outcome: outcomeSelect.value || undefined }));
  const rangeSelect = h(
    'select',
    { id: 'f-range' },
    h('option', { value: 'hour', selected: bucket === 'hour' }, 'Last 24 hours, per hour'),
    h('option', { value: 'day', selected: bucket === 'day' }, 'Last 14 days, per day'),
  );
  rangeSelect.addEventListener('change', () =>
    setParams({ bucket: rangeSelect.value === 'day' ? 'day' : undefined }),
  );

  root.append(
    h(
      'div',
      { class: 'page-head' },
      h('h1', {}, 'Sync runs'),
      h('p', { class: 'muted' }, 'Manual syncs, Resyncs and group changes, newest first.'),
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'runs-chart' },
      h(
        'div',
        { class: 'section-head' },
        h('h2', { id: 'runs-chart' }, 'Runs over time'),
        h('div', { class: 'field inline' }, h('label', { for: 'f-range' }, 'Period'), rangeSelect),
      ),
      chart,
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'runs-history' },
      h(
        'div',
        { class: 'section-head' },
        h('h2', { id: 'runs-history' }, 'History'),
        h('div', { class: 'field inline' }, h('label', { for: 'f-outcome' }, 'Outcome'), outcomeSelect),
      ),
      list,
    ),
  );

  const matches = (r: SyncRun) =>
    !outcome || (outcome === 'running' ? !r.finishedAt : r.finishedAt !== null && r.outcome === outcome);

  const renderList = () => {
    const shown = runs.filter(matches);
    refreshRegion(
      list,
      table(
        'Sync runs',
        [
          'Started',
          'Trigger',
          'Kind',
          'Scope',
          'Took',
          'Impacted',
          'Success',
          'Unsynced',
          'Partial',
          'Failed',
          'Outcome',
        ],
        shown.map((r) => [
          h('a', { href: `#/runs/${r.id}`, 'data-key': `run-${r.id}` }, timeEl(r.startedAt)),
          r.trigger,
          r.kind,
          scopeText(r, sites),
          took(r),
          num(r.counts.impacted),
          num(r.counts.success),
          num(r.counts.unsynced),
          num(r.counts.partial),
          num(r.counts.failed),
          outcomeBadge(r.finishedAt ? r.outcome : null),
        ]),
        {
          empty: outcome
            ? `No ${OUTCOME_LABELS[outcome]?.toLowerCase()} run among those loaded.`
            : 'No sync run yet.',
        },
      ),
      nextCursor
        ? h(
            'p',
            {},
            button(
              'Load older runs',
              async () => {
                const page = await api.get<ApiPage<SyncRun>>(
                  `/sync-runs${qs({ limit: 100, cursor: nextCursor })}`,
                );
                runs.push(...page.items);
                nextCursor = page.nextCursor;
                renderList();
              },
              { key: 'more' },
            ),
          )
        : null,
    );
  };

  const load = async () => {
    const [overview, page] = await Promise.all([
      api.get<Overview>(`/overview?bucket=${bucket}`),
      api.get<ApiPage<SyncRun>>(`/sync-runs${qs({ limit: Math.max(100, runs.length) })}`),
    ]);
    refreshRegion(
      chart,
      runsChart(overview.runsOverTime.points, bucket),
      legend([
        { label: 'Success', cls: 'oc-fill-success' },
        { label: 'Partial success', cls: 'oc-fill-partial' },
        { label: 'Failure', cls: 'oc-fill-failure' },
        { label: 'Running', cls: 'oc-fill-running' },
      ]),
    );
    runs.length = 0;
    runs.push(...page.items);
    nextCursor = page.nextCursor;
    renderList();
  };
  await load();
  return { title: 'Sync runs', refresh: load };
};

interface RunItem {
  credentialId: string;
  username?: string;
  targetName?: string;
  outcome?: string;
  result?: string;
  reason?: string | null;
  message?: string | null;
  at?: string | null;
  finishedAt?: string | null;
}

export const runPage: Page = async ({ root, path }) => {
  const id = path[1]!;
  const body = h('div', {});
  root.append(body);
  const sites = new Map((await api.get<{ items: Site[] }>('/sites')).items.map((s) => [s.id, s.name]));

  const load = async () => {
    const run = await api.get<SyncRun>(`/sync-runs/${id}`);
    // Per-run items, where this coordinator records them.
    let items: ApiPage<RunItem> | null = null;
    try {
      items = await api.get<ApiPage<RunItem>>(`/sync-runs/${id}/items?limit=200`);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
    }
    const c = run.counts;
    const done = c.success + c.unsynced + c.partial + c.failed;
    const pct = c.impacted ? Math.round((done / c.impacted) * 100) : 100;
    const view: Child[] = [
      h('p', { class: 'crumbs' }, h('a', { href: '#/runs' }, 'Sync runs'), ' / ', run.id.slice(0, 8)),
      h(
        'div',
        { class: 'page-head' },
        h('h1', {}, `Sync run: ${run.kind}, ${scopeText(run, sites)}`),
        outcomeBadge(run.finishedAt ? run.outcome : null),
      ),
      h(
        'dl',
        { class: 'sync-summary card' },
        ...(
          [
            ['Trigger', run.trigger],
            ['By', run.createdBy],
            ['Started', timeEl(run.startedAt)],
            ['Finished', timeEl(run.finishedAt)],
            ['Took', took(run)],
            ['Impacted', num(c.impacted)],
            ['Success', num(c.success)],
            ['Unsynced', num(c.unsynced)],
            ['Partial', num(c.partial)],
            ['Failed', num(c.failed)],
          ] as [string, Child][]
        ).map(([k, v]) => h('div', { class: 'stat' }, h('dt', {}, k), h('dd', {}, v))),
      ),
      h(
        'div',
        { class: 'progress-wrap' },
        h('label', { for: 'run-progress' }, `Progress: ${num(done)} of ${num(c.impacted)}`),
        h('progress', { id: 'run-progress', max: 100, value: pct }, `${pct}%`),
      ),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'items' },
        h('h2', { id: 'items' }, 'Items'),
        items
          ? table(
              'Items of this run',
              ['Credential', 'Target', 'Result', 'Reason', 'Message', 'When'],
              items.items.map((i) => [
                h('a', { href: `#/credentials/${i.credentialId}` }, i.username ?? i.credentialId.slice(0, 8)),
                i.targetName ?? '',
                i.outcome ?? i.result ?? 'pending',
                i.reason ?? '',
                i.message ?? '',
                timeEl(i.at ?? i.finishedAt ?? null),
              ]),
              { empty: 'No item results yet.' },
            )
          : h(
              'p',
              { class: 'muted' },
              'This coordinator does not record per-item results of runs. ',
              h('a', { href: `#/audit?objectId=${run.id}` }, 'Audit events of this run →'),
            ),
      ),
    ];
    refreshRegion(body, ...view);
  };
  await load();
  return { title: 'Sync run', refresh: load };
};
