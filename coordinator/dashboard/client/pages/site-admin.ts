import { api } from '../api.js';
import { named } from '../names.js';
import { confirmDialog, h, refreshRegion, timeEl } from '../dom.js';
import { deleteWithForce, formDialog, showOnce } from '../forms.js';
import { ENROLLMENT_TOKEN_STATE_LABELS, labelOf, type Agent } from '../model.js';
import { act } from '../page.js';
import { can } from '../session.js';
import { button, table } from '../ui.js';

/** Site administration on the Sites page (admin only: the buttons are absent for other roles). */

export function newSiteButton(reload: () => Promise<void>): HTMLElement | null {
  if (!can('admin')) return null;
  return button(
    'New site',
    async () => {
      if (
        await formDialog({
          title: 'New site',
          fields: [
            { name: 'name', label: 'Name', required: true },
            { name: 'requireApproval', label: 'New agents wait for approval', type: 'checkbox' },
          ],
          confirm: 'Create site',
          done: 'Site created',
          submit: (v) => api.post('/sites', { name: v.name, requireApproval: v.requireApproval }),
        })
      )
        await reload();
    },
    { kind: 'primary', key: 'new-site' },
  );
}

interface SiteRef {
  siteId: string;
  name: string;
}

/** Rename, delete (refused while it has credentials or agents: the refusal is shown, then a forced delete offered), enrollment tokens. */
export function siteAdminButtons(site: SiteRef, reload: () => Promise<void>): HTMLElement[] {
  if (!can('admin')) return [];
  return [
    button(
      'Rename',
      async () => {
        if (
          await formDialog({
            title: `Rename ${site.name}`,
            fields: [{ name: 'name', label: 'Name', value: site.name, required: true }],
            confirm: 'Rename',
            done: 'Site renamed',
            submit: (v) => api.patch(`/sites/${site.siteId}`, { name: v.name }),
          })
        )
          await reload();
      },
      { key: `rename-${site.siteId}` },
    ),
    button('Enrollment token', () => enrollmentToken(site), { key: `token-${site.siteId}` }),
    button(
      'Delete site',
      async () => {
        await deleteWithForce({
          name: site.name,
          path: `/sites/${site.siteId}`,
          body: 'The site, its targets and enrollment tokens are deleted.',
          confirm: 'Delete site',
          forceConfirm: 'Delete everything',
        });
        await reload();
      },
      { kind: 'danger', key: `delete-${site.siteId}` },
    ),
  ];
}

interface TokenItem {
  id: string;
  state: string;
  usesLeft: number;
  expiresAt: string;
  createdBy: string;
  createdByName: string;
  createdAt: string;
}

/** Creates an enrollment token and shows it once with the command to paste; lists and revokes the site's tokens. */
async function enrollmentToken(site: SiteRef): Promise<void> {
  const list = h('div', {});
  const show = async () => {
    const tokens = await api.get<{ items: TokenItem[] }>(`/sites/${site.siteId}/enrollment-tokens`);
    refreshRegion(
      list,
      table(
        `Enrollment tokens of ${site.name}`,
        ['Created', 'By', 'State', 'Uses left', 'Expires', ''],
        tokens.items.map((t) => [
          timeEl(t.createdAt),
          named(t.createdByName, t.createdBy),
          labelOf(ENROLLMENT_TOKEN_STATE_LABELS, t.state),
          t.usesLeft,
          timeEl(t.expiresAt),
          t.state === 'active'
            ? button(
                'Revoke',
                async () => {
                  await act(
                    'Revoke token',
                    () => api.post(`/enrollment-tokens/${t.id}/revoke`),
                    'Token revoked',
                  );
                  await show();
                },
                { key: `revoke-${t.id}` },
              )
            : '',
        ]),
        { empty: 'No enrollment tokens.' },
      ),
    );
  };
  await show();
  let created: { token: string } | null = null;
  await formDialog({
    title: `Enrollment tokens of ${site.name}`,
    intro: 'A new token is shown once. Existing tokens are listed below (never the token itself).',
    fields: [
      { name: 'uses', label: 'Agents it may enroll', type: 'number', value: 1 },
      { name: 'ttlHours', label: 'Valid for (hours)', type: 'number', value: 24 },
    ],
    confirm: 'Create token',
    extra: list,
    submit: async (v) => {
      created = await api.post<{ token: string }>(`/sites/${site.siteId}/enrollment-tokens`, {
        uses: Number(v.uses),
        ttlSeconds: Math.round(Number(v.ttlHours) * 3600),
      });
    },
  });
  const token = (created as { token: string } | null)?.token;
  if (token) {
    await showOnce(
      'Enrollment token',
      'Shown once. On the agent’s machine, run:',
      `sudo sync-agent enroll --url ${location.origin} --token ${token}`,
    );
  }
}

/** Approve, deny and rename an agent (admin). */
export function agentAdminButtons(a: Agent, reload: () => Promise<void>): HTMLElement[] {
  if (!can('admin')) return [];
  const out: HTMLElement[] = [];
  if (!a.approved) {
    out.push(
      button(
        'Approve',
        async () => {
          await act(`Approve ${a.name}`, () => api.post(`/agents/${a.id}/approve`), `${a.name} approved`);
          await reload();
        },
        { kind: 'primary', key: `approve-${a.id}`, ariaLabel: `Approve ${a.name}` },
      ),
      button(
        'Deny',
        async () => {
          const ok = await confirmDialog({
            title: `Deny ${a.name}?`,
            body: [
              h(
                'p',
                {},
                'The agent is revoked: it can never take work. It can enroll again with a new token.',
              ),
            ],
            confirm: 'Deny agent',
            danger: true,
          });
          if (ok) await act(`Deny ${a.name}`, () => api.post(`/agents/${a.id}/deny`), `${a.name} denied`);
          await reload();
        },
        { kind: 'danger', key: `deny-${a.id}`, ariaLabel: `Deny ${a.name}` },
      ),
    );
  }
  out.push(
    button(
      'Rename',
      async () => {
        if (
          await formDialog({
            title: `Rename ${a.name}`,
            fields: [{ name: 'name', label: 'Name', value: a.name, required: true }],
            confirm: 'Rename',
            done: 'Agent renamed',
            submit: (v) => api.patch(`/agents/${a.id}`, { name: v.name }),
          })
        )
          await reload();
      },
      { key: `rename-agent-${a.id}`, ariaLabel: `Rename ${a.name}` },
    ),
    button(
      'Revoke',
      async () => {
        const ok = await confirmDialog({
          title: `Revoke ${a.name}?`,
          body: [h('p', {}, 'Its token stops working at once and it exits; it must enroll again.')],
          confirm: 'Revoke agent',
          danger: true,
        });
        if (ok) await act(`Revoke ${a.name}`, () => api.post(`/agents/${a.id}/revoke`), `${a.name} revoked`);
        await reload();
      },
      { kind: 'danger', key: `revoke-agent-${a.id}`, ariaLabel: `Revoke ${a.name}` },
    ),
  );
  return out;
}
