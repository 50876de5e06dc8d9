import { api } from '../api.js';
import { append, confirmDialog, duration, h, refreshRegion, timeEl } from '../dom.js';
import { formDialog, showOnce, type FormValues } from '../forms.js';
import type { Policy } from '../model.js';
import { named } from '../names.js';
import { act, type Page } from '../page.js';
import { can, type Role } from '../session.js';
import { button, table } from '../ui.js';

interface Token {
  id: string;
  name: string;
  role: Role;
  createdBy: string;
  createdByName: string;
  createdAt: string;
  revokedAt: string | null;
}

const HOUR_S = 3600;

function policyFields(p?: Policy) {
  return [
    { name: 'name', label: 'Name', value: p?.name ?? '', required: true },
    { name: 'length', label: 'Password length', type: 'number' as const, value: p?.rules.length ?? 24 },
    {
      name: 'verifyHours',
      label: 'Verify every (hours)',
      type: 'number' as const,
      value: (p?.verifyIntervalSeconds ?? 86_400) / HOUR_S,
    },
    {
      name: 'rotateDays',
      label: 'Change every (days; empty: never)',
      type: 'number' as const,
      value: p?.rotateIntervalSeconds ? p.rotateIntervalSeconds / 86_400 : '',
    },
  ];
}

/** The policy body from the form; the API validates it and its message is shown in the dialog. */
function policyBody(v: FormValues, p?: Policy) {
  return {
    name: v.name,
    rules: { ...(p?.rules ?? {}), length: Number(v.length) },
    verifyIntervalSeconds: Math.round(Number(v.verifyHours) * HOUR_S),
    rotateIntervalSeconds:
      v.rotateDays === '' ? (p ? null : undefined) : Math.round(Number(v.rotateDays) * 86_400),
  };
}

/** Password policies (operator edits) and operators' API tokens (admin only). */
export const policiesPage: Page = async ({ root }) => {
  const policies = h('div', {});
  const tokens = h('div', {});
  const operator = can('operator');
  const admin = can('admin');
  append(root, [
    h(
      'div',
      { class: 'page-head' },
      h('h1', {}, 'Policies & tokens'),
      operator
        ? button(
            'New policy',
            async () => {
              if (
                await formDialog({
                  title: 'New policy',
                  fields: policyFields(),
                  confirm: 'Create policy',
                  done: 'Policy created',
                  submit: (v) => api.post('/policies', policyBody(v)),
                })
              )
                await load();
            },
            { kind: 'primary', key: 'new-policy' },
          )
        : null,
    ),
    h('h2', {}, 'Password policies'),
    policies,
    admin ? h('h2', {}, 'API tokens') : null,
    admin
      ? button(
          'New token',
          async () => {
            let created: { token: string } | null = null;
            await formDialog({
              title: 'New API token',
              fields: [
                { name: 'name', label: 'Name', required: true },
                {
                  name: 'role',
                  label: 'Role',
                  type: 'select',
                  value: 'viewer',
                  options: ['viewer', 'operator', 'admin'].map((r) => ({ value: r, label: r })),
                },
              ],
              confirm: 'Create token',
              submit: async (v) => {
                created = await api.post<{ token: string }>('/tokens', { name: v.name, role: v.role });
              },
            });
            const token = (created as { token: string } | null)?.token;
            if (token) await showOnce('API token', 'Shown once: keep it in a password manager.', token);
            await load();
          },
          { key: 'new-token' },
        )
      : null,
    tokens,
  ]);

  const load = async () => {
    const list = await api.get<{ items: Policy[] }>('/policies');
    refreshRegion(
      policies,
      table(
        'Password policies',
        ['Name', 'Length', 'Verify every', 'Change every', ''],
        list.items.map((p) => [
          h('span', { title: p.id }, p.name),
          p.rules.length,
          duration(p.verifyIntervalSeconds),
          p.rotateIntervalSeconds ? duration(p.rotateIntervalSeconds) : 'never',
          operator
            ? h(
                'div',
                { class: 'actions' },
                button(
                  'Edit',
                  async () => {
                    if (
                      await formDialog({
                        title: `Edit ${p.name}`,
                        fields: policyFields(p),
                        confirm: 'Save',
                        done: `${p.name} saved`,
                        submit: (v) => api.patch(`/policies/${p.id}`, policyBody(v, p)),
                      })
                    )
                      await load();
                  },
                  { key: `edit-policy-${p.id}`, ariaLabel: `Edit ${p.name}` },
                ),
                button(
                  'Delete',
                  async () => {
                    const ok = await confirmDialog({
                      title: `Delete ${p.name}?`,
                      body: [h('p', {}, 'Refused while a credential or a sync group uses it.')],
                      confirm: 'Delete policy',
                      danger: true,
                    });
                    if (ok)
                      await act(`Delete ${p.name}`, () => api.del(`/policies/${p.id}`), `${p.name} deleted`);
                    await load();
                  },
                  { kind: 'danger', key: `delete-policy-${p.id}`, ariaLabel: `Delete ${p.name}` },
                ),
              )
            : '',
        ]),
        { empty: 'No policies yet: credentials use the default rules.' },
      ),
    );
    if (!admin) return;
    const all = await api.get<{ items: Token[] }>('/tokens');
    refreshRegion(
      tokens,
      table(
        'API tokens',
        ['Name', 'Role', 'Created by', 'Created', 'State', ''],
        all.items.map((t) => [
          h('span', { title: t.id }, t.name),
          t.role,
          named(t.createdByName, t.createdBy),
          timeEl(t.createdAt),
          t.revokedAt ? 'Revoked' : 'Active',
          t.revokedAt
            ? ''
            : button(
                'Revoke',
                async () => {
                  await act(
                    `Revoke ${t.name}`,
                    () => api.post(`/tokens/${t.id}/revoke`),
                    `${t.name} revoked`,
                  );
                  await load();
                },
                { kind: 'danger', key: `revoke-token-${t.id}`, ariaLabel: `Revoke ${t.name}` },
              ),
        ]),
      ),
    );
  };
  await load();
  return { title: 'Policies & tokens', refresh: load };
};
