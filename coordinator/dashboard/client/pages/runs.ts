import { api, fetchPages, qs } from '../api.js';
import { announce, confirmDialog, duration, h, num, refreshRegion, timeEl, type Child } from '../dom.js';
import { exportButtons } from '../exports.js';
import {
  labelOf,
  OUTCOME_LABELS,
  RUN_TRIGGER_LABELS,
  type Overview,
  type Page as ApiPage,
  type SyncRun,
  type SyncRunItem,
} from '../model.js';
import { named } from '../names.js';
import { act, type Page } from '../page.js';
import { button, legend, outcomeBadge, runsChart, table } from '../ui.js';

/** The scope in words, as the API names it (`site Berlin`), the ids on hover. */
const scopeText = (run: SyncRun): Child => {
  const ids = [run.scope.siteId, run.scope.targetId, run.scope.groupId].filter(Boolean).join(', ');
  return ids ? h('span', { title: `id ${ids}`, class: 'scope' }, run.scopeName ?? ids) : 'everything';
};

const kindText = (kind: SyncRun['kind']): string => (kind === 'verify' ? 'Verify' : 'Change');

const took = (r: SyncRun): string =>
  r.finishedAt ? duration((new Date(r.finishedAt).getTime() - new Date(r.startedAt).getTime()) / 1000) : '—';

/** Rows a list shows at first and adds per "load more". */
const PAGE = 100;

export const runsPage: Page = async ({ root, params, setParams }) => {
  const outcome = params.get('outcome') ?? '';
  const days = Number(params.get('days') ?? '') || undefined;
  const bucket = params.get('bucket') === 'day' ? 'day' : 'hour';
  const chart = h('div', {});
  const list = h('div', {});
  const runs: SyncRun[] = [];
  let nextCursor: string | null = null;
  // Filtered on the server (outcome, start time), so a filter sees every run, not only those loaded.
  const filter = () => ({
    outcome: outcome || undefined,
    since: days ? new Date(Date.now() - days * 86_400_000).toISOString() : undefined,
  });

  const outcomeSelect = h(
    'select',
    { id: 'f-outcome' },
    h('option', { value: '' }, 'All outcomes'),
    ['success', 'partial', 'failure', 'issues', 'running'].map((o) =>
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
      h(
        'p',
        { class: 'muted' },
        'Manual syncs, Resyncs, group changes, and each site’s scheduled work of the day (trigger schedule), newest first.',
      ),
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
        exportButtons('sync runs', '/sync-runs/export', filter),
      ),
      days
        ? h(
            'p',
            { class: 'chips' },
            'Also filtered: ',
            h(
              'button',
              {
                type: 'button',
                class: 'chip',
                onclick: () => setParams({ days: undefined }),
                'aria-label': `Remove filter last ${days} days`,
              },
              `Last ${days} days ✕`,
            ),
          )
        : null,
      list,
    ),
  );

  const renderList = () => {
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
        runs.map((r) => [
          h('a', { href: `#/runs/${r.id}`, 'data-key': `run-${r.id}` }, timeEl(r.startedAt)),
          labelOf(RUN_TRIGGER_LABELS, r.trigger),
          kindText(r.kind),
          scopeText(r),
          took(r),
          num(r.counts.impacted),
          num(r.counts.success),
          num(r.counts.unsynced),
          num(r.counts.partial),
          num(r.counts.failed),
          outcomeBadge(r.finishedAt ? r.outcome : null),
        ]),
        {
          empty:
            outcome === 'issues'
              ? 'No run with issues.'
              : outcome
                ? `No ${OUTCOME_LABELS[outcome]?.toLowerCase()} run.`
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
                  `/sync-runs${qs({ ...filter(), limit: PAGE, cursor: nextCursor })}`,
                );
                runs.push(...page.items);
                nextCursor = page.nextCursor;
                renderList();
                announce(`${num(runs.length)} runs shown`);
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
      fetchPages<SyncRun>('/sync-runs', filter(), Math.max(PAGE, runs.length)),
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

export const runPage: Page = async ({ root, path }) => {
  const id = path[1]!;
  const body = h('div', {});
  const itemsRegion = h('div', {});
  root.append(body);
  // The run's items, paged: a site-wide run has one per credential (100,000 at a large site).
  const items: SyncRunItem[] = [];
  let itemsCursor: string | null = null;
  let schedule = false;

  const renderItems = () =>
    refreshRegion(
      itemsRegion,
      table(
        'Items of this run',
        ['Credential', 'Target', 'Result', 'Reason', 'When'],
        items.map((i) => [
          named(i.username, i.credentialId, `#/credentials/${i.credentialId}`),
          i.targetName ?? '',
          h('span', { title: i.result, class: `result result-${i.result}` }, i.resultLabel),
          i.reason ? h('span', { title: i.reason }, i.reasonLabel ?? i.reason) : '',
          timeEl(i.at),
        ]),
        {
          empty: schedule
            ? 'A schedule entry counts the day’s results of work outside runs; it keeps no item per credential (see the site’s credentials).'
            : 'No item results yet.',
        },
      ),
      h('p', { class: 'muted' }, `${num(items.length)} items shown`),
      itemsCursor
        ? h(
            'p',
            {},
            button(
              'Load more items',
              async () => {
                const page = await api.get<ApiPage<SyncRunItem>>(
                  `/sync-runs/${id}/items${qs({ limit: PAGE, cursor: itemsCursor })}`,
                );
                items.push(...page.items);
                itemsCursor = page.nextCursor;
                renderItems();
                announce(`${num(items.length)} items shown`);
              },
              { key: 'more-items' },
            ),
          )
        : null,
    );

  const load = async () => {
    const [run, page] = await Promise.all([
      api.get<SyncRun>(`/sync-runs/${id}`),
      fetchPages<SyncRunItem>(`/sync-runs/${id}/items`, {}, Math.max(PAGE, items.length)),
    ]);
    items.length = 0;
    items.push(...page.items);
    itemsCursor = page.nextCursor;
    schedule = run.trigger === 'schedule';
    const c = run.counts;
    const done = c.success + c.unsynced + c.partial + c.failed;
    const pct = c.impacted ? Math.round((done / c.impacted) * 100) : 100;
    const view: Child[] = [
      h('p', { class: 'crumbs' }, h('a', { href: '#/runs' }, 'Sync runs'), ' / ', run.id.slice(0, 8)),
      h(
        'div',
        { class: 'page-head' },
        h('h1', {}, `Sync run: ${kindText(run.kind).toLowerCase()}, `, scopeText(run)),
        outcomeBadge(run.finishedAt ? run.outcome : null),
        run.finishedAt
          ? null
          : h(
              'div',
              { class: 'actions' },
              button('Cancel run', () => cancel(run), {
                kind: 'danger',
                key: 'cancel-run',
                title: 'End this run now; work not started yet is dropped',
              }),
            ),
      ),
      h(
        'dl',
        { class: 'sync-summary card' },
        ...(
          [
            ['Trigger', labelOf(RUN_TRIGGER_LABELS, run.trigger)],
            ['By', named(run.createdByName ?? run.createdBy, run.createdBy)],
            ['Started', timeEl(run.startedAt)],
            ['Finished', timeEl(run.finishedAt)],
            ['Took', took(run)],
            ...(run.cancelledAt
              ? ([
                  ['Cancelled', timeEl(run.cancelledAt)],
                  ['Cancelled by', run.cancelledBy ?? ''],
                ] as [string, Child][])
              : []),
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
        h(
          'div',
          { class: 'section-head' },
          h('h2', { id: 'items' }, 'Items'),
          schedule ? null : exportButtons('run items', `/sync-runs/${id}/items/export`, () => ({})),
        ),
        itemsRegion,
      ),
    ];
    refreshRegion(body, ...view);
    renderItems();
  };
  /** Cancel, after a confirmation that says what happens to the run's work. */
  const cancel = async (run: SyncRun) => {
    const ok = await confirmDialog({
      title: 'Cancel this sync run?',
      body: [
        h('p', {}, 'The run ends now: every credential without a result yet counts as unsynced (cancelled).'),
        h(
          'ul',
          {},
          h(
            'li',
            {},
            'Queued verifications and changes no agent has started are dropped; those credentials go back to their schedule.',
          ),
          h(
            'li',
            {},
            'A change an agent is running, or whose new password may already be set, still finishes (or is reconciled), outside the run.',
          ),
        ),
      ],
      confirm: 'Cancel run',
      danger: true,
    });
    if (ok)
      await act('Cancel run', () => api.post<SyncRun>(`/sync-runs/${run.id}/cancel`), 'Sync run cancelled');
    await load();
  };

  await load();
  return { title: 'Sync run', refresh: load };
};
