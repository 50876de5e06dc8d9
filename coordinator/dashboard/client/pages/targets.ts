import { api, ApiError, qs } from '../api.js';
import { confirmDialog, h, refreshRegion } from '../dom.js';
import { deleteWithForce } from '../forms.js';
import { kindLabel, type Site } from '../model.js';
import type { Page } from '../page.js';
import { can } from '../session.js';
import { button, credentialsHref, table } from '../ui.js';
import { tryLoginDialog } from './login-trial.js';
import { createTargetDialog, editTargetDialog, type TargetLike } from './target-form.js';

interface TargetItem extends TargetLike {
  createdAt: string;
}

/** Targets shown at once (the name search and the site filter narrow them). */
const PAGE = 100;

/** Where a target is: its host (and port) or its base URL. */
function whereOf(t: TargetItem): string {
  const c = t.connection;
  if (typeof c.baseUrl === 'string') return c.baseUrl;
  if (typeof c.host === 'string') return typeof c.port === 'number' ? `${c.host}:${c.port}` : c.host;
  return '';
}

/**
 * Targets: list by site and name; create and edit with the kind's form, Test connection (a
 * verification of each of its credentials, as a sync run), Try login on a web target (an edited login
 * workflow tried unsaved: login-trial.ts), delete (refused while it has credentials:
 * the refusal is shown, then a forced delete offered). Operator and admin; a viewer only reads.
 */
export const targetsPage: Page = async ({ root, params, setParams }) => {
  const siteId = params.get('siteId') ?? undefined;
  const q = params.get('q') ?? undefined;
  const sites = await api.get<{ items: Site[] }>('/sites');
  const siteName = new Map(sites.items.map((s) => [s.id, s.name]));
  const body = h('div', {});

  const siteSelect = h(
    'select',
    { id: 't-site', name: 'siteId' },
    h('option', { value: '' }, 'All sites'),
    sites.items.map((s) => h('option', { value: s.id, selected: s.id === siteId }, s.name)),
  );
  siteSelect.addEventListener('change', () => setParams({ siteId: siteSelect.value || undefined }));
  const search = h('input', { id: 't-q', type: 'search', value: q ?? '', autocomplete: 'off' });
  search.addEventListener('change', () => setParams({ q: search.value.trim() || undefined }));

  root.append(
    h(
      'div',
      { class: 'page-head' },
      h('h1', {}, 'Targets'),
      h(
        'p',
        { class: 'muted' },
        'The machines, databases, directories and web logins whose passwords are kept.',
      ),
      can('operator')
        ? button(
            'New target',
            async () => {
              const id = await createTargetDialog(sites.items, siteId);
              if (id) await load();
            },
            { kind: 'primary', key: 'new-target' },
          )
        : '',
    ),
    h(
      'form',
      {
        class: 'filters card',
        role: 'search',
        'aria-label': 'Filter targets',
        onsubmit: (e: Event) => e.preventDefault(),
      },
      h('div', { class: 'field' }, h('label', { for: 't-site' }, 'Site'), siteSelect),
      h('div', { class: 'field field-wide' }, h('label', { for: 't-q' }, 'Name contains'), search),
    ),
    body,
  );

  const actions = (t: TargetItem): HTMLElement[] => {
    if (!can('operator')) return [];
    return [
      button(
        'Edit',
        async () => {
          if (await editTargetDialog(t)) await load();
        },
        { key: `edit-${t.id}`, ariaLabel: `Edit ${t.name}` },
      ),
      ...(t.kind === 'web'
        ? [
            button('Try login', () => tryLoginDialog(t), {
              key: `try-login-${t.id}`,
              ariaLabel: `Try login on ${t.name}`,
              title: 'Tries an edited login workflow, unsaved, with a credential of the target',
            }),
          ]
        : []),
      button('Test connection', () => testConnection(t), {
        key: `test-${t.id}`,
        ariaLabel: `Test connection of ${t.name}`,
        title: 'Verifies each of its credentials on it now (a sync run)',
      }),
      button('Delete', () => deleteTarget(t, load), {
        kind: 'danger',
        key: `delete-${t.id}`,
        ariaLabel: `Delete ${t.name}`,
      }),
    ];
  };

  const load = async () => {
    const page = await api.get<{ items: TargetItem[]; nextCursor: string | null }>(
      `/targets${qs({ siteId, q, limit: PAGE })}`,
    );
    refreshRegion(
      body,
      table(
        'Targets',
        ['Name', 'Kind', 'Site', 'Where', 'Credentials', ''],
        page.items.map((t) => [
          h('span', { title: t.id }, t.name),
          kindLabel(t.kind),
          siteName.get(t.siteId) ?? t.siteId,
          whereOf(t),
          h('a', { href: credentialsHref({ targetId: t.id }) }, 'Credentials'),
          h('div', { class: 'actions' }, actions(t)),
        ]),
        { empty: 'No target matches.' },
      ),
      page.nextCursor
        ? h('p', { class: 'muted' }, `The first ${PAGE} by name: narrow by site or name.`)
        : null,
    );
  };
  await load();
  return { title: 'Targets', refresh: load };
};

/** A verification of each of the target's credentials, as a sync run: its page shows the result. */
async function testConnection(t: TargetItem): Promise<void> {
  try {
    const run = await api.post<{ id: string }>('/sync-runs', { kind: 'verify', scope: { targetId: t.id } });
    location.hash = `#/runs/${run.id}`;
  } catch (err) {
    await confirmDialog({
      title: `Cannot test ${t.name}`,
      body: [h('p', { role: 'alert' }, err instanceof ApiError ? err.message : String(err))],
      confirm: 'OK',
    });
  }
}

async function deleteTarget(t: TargetItem, reload: () => Promise<void>): Promise<void> {
  const done = await deleteWithForce({
    name: t.name,
    path: `/targets/${t.id}`,
    body: 'The target is deleted. A target with credentials is refused unless you force it.',
    confirm: 'Delete target',
    forceConfirm: 'Delete it and its credentials',
  });
  if (done) await reload();
}
