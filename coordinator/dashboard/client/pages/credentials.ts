import { api, qs } from '../api.js';
import { announce, h, num, refreshRegion, replace, timeEl } from '../dom.js';
import {
  kindLabel,
  REASON_LABELS,
  REASONS,
  STATUS_LABELS,
  STATUSES,
  type Credential,
  type Page as ApiPage,
  type Site,
  type Target,
  jobText,
} from '../model.js';
import type { Page } from '../page.js';
import { statusBadge } from '../ui.js';
import { can } from '../session.js';
import { bulkBar, importCsvButton, newCredentialButton, tickAll, tickBox } from './credential-admin.js';
import { exportButtons } from '../exports.js';

const FILTERS = [
  'status',
  'reason',
  'siteId',
  'targetId',
  'groupId',
  'q',
  'suspended',
  'jobState',
  'sort',
  'limit',
] as const;

/** The first is the default: problems first (the API's `problems` order). */
const SORTS: [string, string][] = [
  ['problems', 'Problems first'],
  ['id', 'Created order'],
  ['username', 'Username A→Z'],
  ['-username', 'Username Z→A'],
  ['target', 'Target A→Z'],
  ['status', 'Status'],
  ['-statusChangedAt', 'Status changed, newest'],
  ['statusChangedAt', 'Status changed, oldest'],
  ['lastVerifiedAt', 'Last verified, oldest first'],
  ['-lastVerifiedAt', 'Last verified, newest first'],
];

/** How often the live refresh counts the total again (a count reads every matching row). */
const TOTAL_EVERY_MS = 30_000;

/** Targets offered in the filter at once (the search finds the others). */
const TARGET_CHOICES = 50;

/** Cursors of the pages before the current one, per filter set (for Previous). */
const history = new Map<string, string[]>();
/** The credentials ticked for a bulk action, kept while the operator pages (a new filter clears them). */
const selected = new Set<string>();
let selectedFor = '';

export const credentialsPage: Page = async ({ root, params, setParams }) => {
  const filter: Record<string, string | undefined> = {};
  for (const k of FILTERS) filter[k] = params.get(k) ?? undefined;
  const cursor = params.get('cursor') ?? undefined;
  /** What the API is asked: problems first unless another order is chosen. */
  const query = () => ({ ...filter, sort: filter.sort ?? 'problems', cursor });
  /** The total is counted at the first load, after an action, and every TOTAL_EVERY_MS between. */
  let totalAt = 0;
  let total: number | undefined;
  const names = new Map<string, string>();
  const signature = JSON.stringify(filter);
  const stack = history.get(signature) ?? [];
  history.set(signature, stack);
  if (!cursor) stack.length = 0;
  if (signature !== selectedFor) selected.clear();
  selectedFor = signature;

  const [sites, targets, chosenTarget, groups] = await Promise.all([
    api.get<{ items: Site[] }>('/sites'),
    api.get<ApiPage<Target>>(`/targets${qs({ siteId: filter.siteId, limit: TARGET_CHOICES })}`),
    filter.targetId ? api.get<Target>(`/targets/${filter.targetId}`).catch(() => null) : null,
    api.get<{ items: { id: string; name: string }[] }>('/sync-groups').catch(() => null),
  ]);
  const siteName = new Map(sites.items.map((s) => [s.id, s.name]));

  const change = (key: string, value: string | undefined) => {
    const next: Record<string, string | undefined> = { [key]: value, cursor: undefined };
    if (key === 'siteId') next.targetId = undefined;
    setParams(next);
  };
  const select = (id: string, label: string, key: string, options: [string, string][], all: string) =>
    h(
      'div',
      { class: 'field' },
      h('label', { for: id }, label),
      (() => {
        const s = h(
          'select',
          { id, name: key },
          h('option', { value: '' }, all),
          options.map(([v, l]) => h('option', { value: v, selected: filter[key] === v }, l)),
        );
        s.addEventListener('change', () => change(key, s.value || undefined));
        return s;
      })(),
    );

  const search = h('input', {
    id: 'f-q',
    type: 'search',
    name: 'q',
    value: filter.q ?? '',
    placeholder: 'username or target',
    autocomplete: 'off',
  });
  let timer: number | undefined;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = window.setTimeout(() => change('q', search.value.trim() || undefined), 400);
  });
  search.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      clearTimeout(timer);
      change('q', search.value.trim() || undefined);
    }
  });

  /**
   * The target filter: a select of the first targets by name (of the chosen site) and a search box
   * that refills it from the server, so a site with thousands of targets is never loaded whole.
   */
  const targetPicker = () => {
    const siteLabel = (t: Target) => (filter.siteId ? '' : ` (${siteName.get(t.siteId) ?? 'site'})`);
    const picker = h('select', { id: 'f-target', name: 'targetId' });
    const fill = (page: ApiPage<Target>) => {
      const items = [...page.items];
      if (chosenTarget && !items.some((t) => t.id === chosenTarget.id)) items.unshift(chosenTarget);
      replace(
        picker,
        h('option', { value: '' }, 'All targets'),
        items.map((t) =>
          h('option', { value: t.id, selected: filter.targetId === t.id }, `${t.name}${siteLabel(t)}`),
        ),
        page.nextCursor
          ? h('option', { value: '', disabled: true }, '… more: type in “Find target” to narrow')
          : null,
      );
    };
    fill(targets);
    picker.addEventListener('change', () => change('targetId', picker.value || undefined));
    const find = h('input', {
      id: 'f-target-q',
      type: 'search',
      name: 'targetQ',
      placeholder: 'part of a target name',
      autocomplete: 'off',
      'aria-controls': 'f-target',
    });
    let findTimer: number | undefined;
    find.addEventListener('input', () => {
      clearTimeout(findTimer);
      findTimer = window.setTimeout(() => {
        const q = find.value.trim();
        void api
          .get<ApiPage<Target>>(`/targets${qs({ siteId: filter.siteId, q, limit: TARGET_CHOICES })}`)
          .then((page) => {
            fill(page);
            announce(`${page.items.length}${page.nextCursor ? '+' : ''} targets match`);
          })
          .catch(() => undefined);
      }, 300);
    });
    return [
      h('div', { class: 'field' }, h('label', { for: 'f-target-q' }, 'Find target'), find),
      h('div', { class: 'field' }, h('label', { for: 'f-target' }, 'Target'), picker),
    ];
  };

  const chips = [
    filter.suspended === 'true' ? ['suspended', 'Suspended by error'] : null,
    filter.jobState
      ? ['jobState', `Job ${filter.jobState === 'active' ? 'running' : filter.jobState}`]
      : null,
  ].filter((c): c is string[] => c !== null);

  const groupField = groups
    ? select(
        'f-group',
        'Sync group',
        'groupId',
        groups.items.map((g) => [g.id, g.name]),
        'All groups',
      )
    : h(
        'div',
        { class: 'field' },
        h('label', { for: 'f-group' }, 'Sync group id'),
        (() => {
          const i = h('input', {
            id: 'f-group',
            name: 'groupId',
            value: filter.groupId ?? '',
            autocomplete: 'off',
          });
          i.addEventListener('change', () => change('groupId', i.value.trim() || undefined));
          return i;
        })(),
      );

  const form = h(
    'form',
    {
      class: 'filters card',
      role: 'search',
      'aria-label': 'Filter credentials',
      onsubmit: (e: Event) => e.preventDefault(),
    },
    h('div', { class: 'field field-wide' }, h('label', { for: 'f-q' }, 'Search'), search),
    select(
      'f-status',
      'Status',
      'status',
      STATUSES.map((s) => [s, STATUS_LABELS[s]]),
      'All statuses',
    ),
    select(
      'f-reason',
      'Reason',
      'reason',
      REASONS.map((r) => [r, REASON_LABELS[r]]),
      'All reasons',
    ),
    select(
      'f-site',
      'Site',
      'siteId',
      sites.items.map((s) => [s.id, s.name]),
      'All sites',
    ),
    targetPicker(),
    groupField,
    select('f-sort', 'Sort by', 'sort', SORTS.slice(1), SORTS[0]![1]),
    select(
      'f-limit',
      'Per page',
      'limit',
      [
        ['25', '25'],
        ['100', '100'],
        ['250', '250'],
      ],
      '50',
    ),
  );

  // Not a live region: it is replaced every few seconds; what a filter or page shows is announced once.
  const results = h('div', {});
  const bulk = bulkBar({ selected, filter, names, reload: () => load(true) });
  let lastPage: ApiPage<Credential> & { total?: number } = { items: [], nextCursor: null };
  const retick = () => {
    bulk.update(lastPage.total ?? 0);
    refreshRegion(results, ...renderResults(lastPage));
  };
  root.append(
    h(
      'div',
      { class: 'page-head' },
      h('h1', {}, 'Credentials'),
      h('p', { class: 'muted' }, 'Filtered and paged on the server; problems first unless sorted otherwise.'),
      h(
        'div',
        { class: 'actions' },
        newCredentialButton(filter.siteId),
        importCsvButton(() => load(true)),
      ),
      exportButtons('credentials', '/credentials/export', () => ({ ...filter, limit: undefined })),
    ),
    form,
    chips.length
      ? h(
          'p',
          { class: 'chips' },
          'Also filtered: ',
          chips.map(([k, label]) =>
            h(
              'button',
              {
                type: 'button',
                class: 'chip',
                onclick: () => change(k!, undefined),
                'aria-label': `Remove filter ${label}`,
              },
              `${label} ✕`,
            ),
          ),
        )
      : '',
    bulk.el ?? '',
    results,
  );

  const load = async (fresh = false) => {
    const count = fresh || Date.now() - totalAt > TOTAL_EVERY_MS;
    lastPage = await api.get<ApiPage<Credential> & { total?: number }>(
      `/credentials${qs({ ...query(), total: count ? 'true' : undefined })}`,
    );
    if (lastPage.total !== undefined) {
      total = lastPage.total;
      totalAt = Date.now();
    } else lastPage.total = total;
    for (const c of lastPage.items) names.set(c.id, `${c.username} on ${c.targetName}`);
    retick();
  };

  const renderResults = (page: ApiPage<Credential> & { total?: number }) => [
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { 'data-testid': 'credential-table' },
        h('caption', { class: 'sr-only' }, 'Credentials'),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            can('operator')
              ? h(
                  'th',
                  { scope: 'col' },
                  tickAll(
                    page.items.map((c) => c.id),
                    selected,
                    retick,
                  ),
                )
              : null,
            ['Username', 'Target', 'Site', 'Status', 'Last verified', 'Status since', 'Job'].map((x) =>
              h('th', { scope: 'col' }, x),
            ),
          ),
        ),
        h(
          'tbody',
          {},
          page.items.length === 0
            ? h(
                'tr',
                {},
                h(
                  'td',
                  { colspan: can('operator') ? 8 : 7, class: 'empty' },
                  'No credential matches these filters.',
                ),
              )
            : page.items.map((c) =>
                h(
                  'tr',
                  { 'data-id': c.id },
                  can('operator')
                    ? h('td', {}, tickBox(c.id, `${c.username} on ${c.targetName}`, selected, retick))
                    : null,
                  h(
                    'td',
                    {},
                    h('a', { href: `#/credentials/${c.id}`, 'data-key': `cred-${c.id}` }, c.username),
                  ),
                  h(
                    'td',
                    {},
                    c.targetName,
                    h('span', { class: 'muted small' }, ` ${kindLabel(c.targetKind)}`),
                  ),
                  h('td', {}, siteName.get(c.siteId) ?? c.siteId.slice(0, 8)),
                  h(
                    'td',
                    { 'data-testid': 'status' },
                    statusBadge(c.status, c.statusReason),
                    c.suspended ? h('span', { class: 'badge small st-out_of_sync' }, 'suspended') : null,
                  ),
                  h('td', {}, timeEl(c.lastVerifiedAt)),
                  h('td', {}, timeEl(c.statusChangedAt)),
                  h(
                    'td',
                    {},
                    c.job.state === 'idle' ? h('span', { class: 'muted' }, jobText(c.job)) : jobText(c.job),
                  ),
                ),
              ),
        ),
      ),
    ),
    h(
      'nav',
      { class: 'pager', 'aria-label': 'Pages' },
      h(
        'button',
        {
          type: 'button',
          class: 'btn',
          disabled: !cursor,
          'data-key': 'prev',
          onclick: () => {
            const prev = stack.pop();
            setParams({ cursor: prev || undefined });
          },
        },
        '← Previous',
      ),
      h(
        'span',
        { class: 'muted', 'data-testid': 'list-count' },
        `Page ${stack.length + 1} · ${num(page.items.length)} shown${page.total === undefined ? '' : ` of ${num(page.total)}`}`,
      ),
      h(
        'button',
        {
          type: 'button',
          class: 'btn',
          disabled: !page.nextCursor,
          'data-key': 'next',
          onclick: () => {
            stack.push(cursor ?? '');
            setParams({ cursor: page.nextCursor ?? undefined });
          },
        },
        'Next →',
      ),
    ),
  ];

  await load(true);
  const first = lastPage;
  announce(
    `${num(first.items.length)} credential${first.items.length === 1 ? '' : 's'} shown of ${num(first.total ?? 0)}, page ${stack.length + 1}${first.nextCursor ? ', more on the next page' : ''}`,
  );
  return { title: 'Credentials', refresh: load };
};
