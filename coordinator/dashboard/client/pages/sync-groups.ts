import { api, fetchPages } from '../api.js';
import { confirmDialog, h, refreshRegion, timeEl } from '../dom.js';
import { formDialog, type FormValues } from '../forms.js';
import type { Credential, Policy, SyncGroup, SyncRun } from '../model.js';
import { act, type Page } from '../page.js';
import { can } from '../session.js';
import { button, outcomeBadge, statusBadge, table } from '../ui.js';

interface Choices {
  credentials: Credential[];
  policies: Policy[];
}

const credentialLabel = (c: Pick<Credential, 'username' | 'targetName'>) =>
  `${c.username} on ${c.targetName}`;

async function choices(): Promise<Choices> {
  const [credentials, policies] = await Promise.all([
    fetchPages<Credential>('/credentials', { sort: 'username' }, 2000),
    api.get<{ items: Policy[] }>('/policies'),
  ]);
  return { credentials: credentials.items, policies: policies.items };
}

/** The group form: name, policy, primary, members (credentials in another group are not offered). */
function groupFields(c: Choices, group?: SyncGroup) {
  const free = c.credentials.filter((x) => x.groupId === null || x.groupId === group?.id);
  const options = free.map((x) => ({ value: x.id, label: credentialLabel(x) }));
  return [
    { name: 'name', label: 'Name', value: group?.name ?? '', required: true },
    {
      name: 'policyId',
      label: 'Policy',
      type: 'select' as const,
      value: group?.policyId ?? '',
      options: [
        { value: '', label: 'The primary’s policy' },
        ...c.policies.map((p) => ({ value: p.id, label: `${p.name} (${p.rules.length} characters)` })),
      ],
    },
    {
      name: 'primaryCredentialId',
      label: 'Primary (authentication) credential, changed first',
      type: 'select' as const,
      value: group?.primaryCredentialId ?? '',
      options,
    },
    {
      name: 'memberCredentialIds',
      label: 'Members',
      type: 'multiselect' as const,
      value: group?.members.map((m) => m.credentialId) ?? [],
      options,
      help: 'Ctrl-click to choose several. Members share one password.',
    },
  ];
}

const body = (v: FormValues) => ({
  name: v.name,
  primaryCredentialId: v.primaryCredentialId,
  memberCredentialIds: v.memberCredentialIds,
});

export const syncGroupsPage: Page = async ({ root }) => {
  const list = h('div', {});
  const admin = can('admin');
  const operator = can('operator');
  root.append(
    h(
      'div',
      { class: 'page-head' },
      h('h1', {}, 'Sync groups'),
      h(
        'p',
        { class: 'muted' },
        'Several credentials sharing one password: the primary is changed first, then every member.',
      ),
      admin
        ? button(
            'New sync group',
            async () => {
              const c = await choices();
              if (
                await formDialog({
                  title: 'New sync group',
                  fields: groupFields(c),
                  confirm: 'Create',
                  done: 'Sync group created',
                  submit: (v) =>
                    api.post('/sync-groups', { ...body(v), ...(v.policyId ? { policyId: v.policyId } : {}) }),
                })
              )
                await load();
            },
            { kind: 'primary', key: 'new-group' },
          )
        : null,
    ),
    list,
  );

  const card = (g: SyncGroup) =>
    h(
      'section',
      { class: 'card group', 'data-group': g.id, 'aria-labelledby': `group-${g.id}` },
      h(
        'div',
        { class: 'site-head' },
        h('h2', { id: `group-${g.id}`, title: g.id }, g.name),
        g.enabled
          ? h('span', { class: 'badge st-in_sync' }, 'Enabled')
          : h('span', { class: 'badge st-agent_disabled' }, 'Disabled'),
        g.changeInProgress
          ? h('span', { class: 'badge st-pending_sync', role: 'status' }, 'Change in progress')
          : null,
        h(
          'div',
          { class: 'actions' },
          operator && g.enabled
            ? button(
                'Change now',
                async () => {
                  await act(
                    `Change ${g.name}`,
                    () => api.post<SyncRun>(`/sync-groups/${g.id}/change`),
                    `Change of ${g.name} started`,
                  );
                  await load();
                },
                { kind: 'primary', key: `change-${g.id}`, disabled: g.changeInProgress },
              )
            : null,
          admin
            ? button(
                'Edit',
                async () => {
                  const c = await choices();
                  if (
                    await formDialog({
                      title: `Edit ${g.name}`,
                      fields: groupFields(c, g),
                      confirm: 'Save',
                      done: `${g.name} saved`,
                      submit: (v) =>
                        api.patch(`/sync-groups/${g.id}`, { ...body(v), policyId: v.policyId || null }),
                    })
                  )
                    await load();
                },
                { key: `edit-${g.id}`, disabled: g.changeInProgress },
              )
            : null,
          admin
            ? button(
                g.enabled ? 'Disable' : 'Enable',
                async () => {
                  const path = g.enabled ? 'disable' : 'enable';
                  await act(
                    `${path} ${g.name}`,
                    () => api.post(`/sync-groups/${g.id}/${path}`),
                    `${g.name} ${path}d`,
                  );
                  await load();
                },
                { key: `toggle-${g.id}` },
              )
            : null,
          admin
            ? button(
                'Delete',
                async () => {
                  const ok = await confirmDialog({
                    title: `Delete ${g.name}?`,
                    body: [h('p', {}, 'Its members stay and rotate on their own again.')],
                    confirm: 'Delete group',
                    danger: true,
                  });
                  if (ok)
                    await act(`Delete ${g.name}`, () => api.del(`/sync-groups/${g.id}`), `${g.name} deleted`);
                  await load();
                },
                { kind: 'danger', key: `delete-${g.id}`, disabled: g.changeInProgress },
              )
            : null,
        ),
      ),
      progress(g),
      h(
        'p',
        { class: 'muted' },
        'Next scheduled change: ',
        g.nextChangeAt ? timeEl(g.nextChangeAt) : 'none',
        ' · Last run: ',
        g.lastRun
          ? h(
              'a',
              { href: `#/runs/${g.lastRun.id}` },
              outcomeBadge(g.lastRun.finishedAt ? g.lastRun.outcome : null),
            )
          : 'none yet',
      ),
      table(
        `Members of ${g.name}`,
        ['Credential', 'Status', 'Last changed', ''],
        g.members.map((m) => [
          h('a', { href: `#/credentials/${m.credentialId}`, title: m.credentialId }, credentialLabel(m)),
          statusBadge(m.status, m.statusReason),
          timeEl(m.lastChangedAt),
          m.primary ? h('strong', {}, 'Primary') : m.changePending ? 'Change pending' : '',
        ]),
      ),
      h('details', { 'data-history': g.id }, h('summary', {}, 'History'), h('div', { class: 'history' })),
    );

  const openHistory = new Set<string>();
  const load = async () => {
    const groups = await api.get<{ items: SyncGroup[] }>('/sync-groups');
    refreshRegion(
      list,
      groups.items.length === 0 ? h('p', { class: 'muted' }, 'No sync groups yet.') : null,
      groups.items.map(card),
    );
    // A history opened stays open (and is read again) across the live refresh.
    for (const d of list.querySelectorAll<HTMLDetailsElement>('details[data-history]')) {
      const id = d.dataset.history!;
      d.open = openHistory.has(id);
      d.addEventListener('toggle', () => {
        if (d.open) openHistory.add(id);
        else openHistory.delete(id);
        if (d.open) void history(id, d.querySelector('.history')!);
      });
    }
  };
  await load();
  return { title: 'Sync groups', refresh: load };
};

/** While a change is out: how many members have their result, out of all (read again at each live refresh). */
function progress(g: SyncGroup): HTMLElement | null {
  const run = g.lastRun;
  if (!g.changeInProgress || !run || run.kind !== 'change' || run.finishedAt) return null;
  const total = g.members.length;
  const done = Math.min(new Set(run.items.map((i) => i.credentialId)).size, total);
  return h(
    'p',
    { class: 'group-progress', 'data-testid': 'group-progress' },
    h('progress', { max: total, value: done, 'aria-label': `Change of ${g.name}` }),
    ` ${done} of ${total} members done`,
  );
}

async function history(groupId: string, into: Element): Promise<void> {
  const runs = await api.get<{ items: SyncRun[] }>(`/sync-groups/${groupId}/runs?limit=20`);
  refreshRegion(
    into,
    table(
      'Runs of the group',
      ['Started', 'Kind', 'Outcome', 'Success', 'Failed', 'Unsynced'],
      runs.items.map((r) => [
        h('a', { href: `#/runs/${r.id}` }, timeEl(r.startedAt)),
        r.kind === 'change' ? 'Change' : 'Verify',
        outcomeBadge(r.finishedAt ? r.outcome : null),
        r.counts.success,
        r.counts.failed,
        r.counts.unsynced,
      ]),
      { empty: 'No runs yet.' },
    ),
  );
}
