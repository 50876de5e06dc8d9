import { api } from '../api.js';
import { can } from '../session.js';
import { confirmDialog, h, refreshRegion, timeEl, type Child } from '../dom.js';
import {
  ACTOR_TYPE_LABELS,
  DETAIL_EXPLAINED,
  jobText,
  kindLabel,
  labelOf,
  REASON_EXPLAINED,
  REASON_LABELS,
  STATUS_HELP,
  type AuditEvent,
  type Credential,
  type Page as ApiPage,
  type Reason,
  type Site,
  type Status,
} from '../model.js';
import { formDialog } from '../forms.js';
import { act, type Page } from '../page.js';
import { button, statusBadge, table } from '../ui.js';
import { auditDetails } from './audit.js';
import { dependenciesSection } from './dependencies.js';
import { named } from '../names.js';

interface HistoryItem {
  at: string;
  status: Status;
  statusLabel: string;
  reason: Reason | null;
  message: string | null;
}

export const credentialPage: Page = async ({ root, path }) => {
  const id = path[1]!;
  const body = h('div', {});
  root.append(body);
  let site: Site | null = null;

  const load = async () => {
    const [c, history, audit] = await Promise.all([
      api.get<Credential>(`/credentials/${id}`),
      api.get<ApiPage<HistoryItem>>(`/credentials/${id}/history?limit=50`),
      api.get<ApiPage<AuditEvent>>(`/audit?objectId=${id}&limit=20`),
    ]);
    site ??= await api.get<Site>(`/sites/${c.siteId}`).catch(() => null);
    refreshRegion(body, ...view(c, history.items, audit.items));
  };

  const view = (c: Credential, history: HistoryItem[], audit: AuditEvent[]): Child[] => [
    h('p', { class: 'crumbs' }, h('a', { href: '#/credentials' }, 'Credentials'), ' / ', c.username),
    h(
      'div',
      { class: 'page-head' },
      h('h1', {}, c.username, h('span', { class: 'muted' }, ` on ${c.targetName}`)),
      h(
        'div',
        { class: 'status-line', 'data-testid': 'detail-status' },
        statusBadge(c.status, c.statusReason),
      ),
    ),
    h('p', { class: 'muted' }, STATUS_HELP[c.status]),
    lastError(c),
    h('div', { class: 'actions', role: 'group', 'aria-label': 'Actions' }, ...actions(c)),
    h(
      'div',
      { class: 'two-col' },
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'facts' },
        h('h2', { id: 'facts' }, 'Details'),
        h(
          'dl',
          { class: 'facts' },
          fact('Last verified', timeEl(c.lastVerifiedAt)),
          fact('Last changed', timeEl(c.lastChangedAt)),
          fact('Last result', timeEl(c.lastResultAt)),
          fact('Status since', timeEl(c.statusChangedAt)),
          fact(
            'Next verification',
            c.verifyPaused ? 'paused until an operator acts' : timeEl(c.nextVerifyAt),
          ),
          fact('Next change', timeEl(c.nextChangeAt)),
          fact('Sync', c.syncEnabled ? 'enabled' : 'disabled'),
          fact('Job', jobText(c.job)),
          fact('Change in flight', c.changePending ? 'yes' : 'no'),
          fact('Suspended', c.suspended ? `yes, after ${c.consecutiveFailures} failures` : 'no'),
          fact('Consecutive failures', String(c.consecutiveFailures)),
          fact('Target', `${c.targetName} (${kindLabel(c.targetKind)})`),
          fact('Site', named(site?.name ?? c.siteName, c.siteId, `#/sites?site=${c.siteId}`)),
          fact('Policy', c.policyId ? named(c.policyName, c.policyId) : 'default'),
          fact(
            'Sync group',
            c.groupId ? named(c.groupName, c.groupId, `#/credentials?groupId=${c.groupId}`) : 'none',
          ),
          fact('Created', timeEl(c.createdAt)),
        ),
      ),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'history' },
        h('h2', { id: 'history' }, 'Status history'),
        table(
          'Status history, newest first',
          ['When', 'Status', 'Detail'],
          [
            // The history keeps settled statuses; one waiting for its first result shows where it is.
            ...(c.lastResultAt === null && (c.status === 'pending_sync' || c.status === 'being_synced')
              ? [[h('span', { class: 'muted' }, 'now'), statusBadge(c.status), 'waiting for its first check']]
              : []),
            ...history.map((x) => [timeEl(x.at), statusBadge(x.status, x.reason), x.message ?? '']),
            [timeEl(c.createdAt), h('span', { class: 'muted' }, 'Created'), ''],
          ],
        ),
      ),
    ),
    dependenciesSection(c, load),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'audit' },
      h('h2', { id: 'audit' }, 'Recent activity'),
      table(
        'Audit events for this credential',
        ['When', 'Who', 'Action', 'Details'],
        audit.map((e) => [
          timeEl(e.at),
          e.actorType === 'system'
            ? labelOf(ACTOR_TYPE_LABELS, 'system')
            : named(e.actorName ?? e.actorId, e.actorId),
          h('span', { title: e.action }, e.actionLabel),
          auditDetails(e),
        ]),
        { empty: 'No audit events.' },
      ),
      h('p', {}, h('a', { href: `#/audit?objectId=${id}` }, 'Full audit log for this credential →')),
    ),
  ];

  const lastError = (c: Credential): Child => {
    if (c.status !== 'out_of_sync' && !c.lastMessage) return null;
    const reason = c.statusReason ?? (c.status === 'out_of_sync' ? 'error' : null);
    return h(
      'section',
      {
        class: `callout ${c.status === 'out_of_sync' ? 'callout-error' : ''}`,
        'aria-labelledby': 'last-error',
      },
      h('h2', { id: 'last-error' }, reason ? `Last error: ${REASON_LABELS[reason]}` : 'Last message'),
      reason ? h('p', {}, REASON_EXPLAINED[reason]) : null,
      c.lastErrorCode ? h('p', { class: 'detail' }, DETAIL_EXPLAINED[c.lastErrorCode]) : null,
      c.lastMessage
        ? h(
            'p',
            { class: 'message' },
            h('span', { class: 'muted' }, 'Message from the agent: '),
            c.lastMessage,
          )
        : null,
    );
  };

  // Every action needs the operator role: a viewer sees none (session.ts).
  const actions = (c: Credential): HTMLElement[] =>
    !can('operator')
      ? []
      : [
          button(
            'Sync now',
            async () => {
              if (await act('Sync now', () => api.post(`/credentials/${id}/verify`), 'Verification queued'))
                await load();
            },
            {
              kind: 'primary',
              // Left enabled: a click says why nothing happens (the API's refusal, in a toast).
              title: c.syncEnabled
                ? 'Verify the stored password on the target now'
                : 'Sync is disabled for this credential: enable it to verify it',
            },
          ),
          button(
            'Change now',
            async () => {
              const ok = await confirmDialog({
                title: 'Change the password now?',
                body: [
                  h(
                    'p',
                    {},
                    `A new password is generated from the policy and set on ${c.targetName} for ${c.username}.`,
                  ),
                  h('p', {}, 'Anyone using the current password directly will need the new one.'),
                ],
                confirm: 'Change password',
              });
              if (
                ok &&
                (await act('Change now', () => api.post(`/credentials/${id}/change`), 'Change requested'))
              )
                await load();
            },
            {
              disabled: !c.syncEnabled,
              title: c.syncEnabled ? 'Rotate the password now' : 'Enable sync first',
            },
          ),
          ...(can('admin') ? [storedPasswordButton(c)] : []),
          c.syncEnabled
            ? button('Disable sync', async () => {
                if (await act('Disable sync', () => api.post(`/credentials/${id}/disable`), 'Sync disabled'))
                  await load();
              })
            : button('Enable sync', async () => {
                if (await act('Enable sync', () => api.post(`/credentials/${id}/enable`), 'Sync enabled'))
                  await load();
              }),
          button(
            'Delete',
            async () => {
              // Read now: a change that was in flight when the page drew may have settled since.
              const now = await api.get<Credential>(`/credentials/${id}`);
              const ok = await confirmDialog({
                title: `Delete ${c.username}?`,
                body: [
                  h('p', {}, 'This removes from the coordinator:'),
                  h(
                    'ul',
                    {},
                    h(
                      'li',
                      {},
                      'the stored password and its password history (they cannot be revealed afterwards)',
                    ),
                    h('li', {}, 'its status history and schedule'),
                  ),
                  h('p', {}, `The account on ${c.targetName} is not touched. This cannot be undone.`),
                  now.changePending
                    ? h(
                        'p',
                        { class: 'error' },
                        'A password change is in flight: a plain delete is refused; use Force Delete.',
                      )
                    : null,
                ],
                confirm: 'Delete',
                danger: true,
              });
              if (ok && (await act('Delete', () => api.del(`/credentials/${id}`), 'Credential deleted')))
                location.hash = '#/credentials';
            },
            { kind: 'danger' },
          ),
          button(
            'Force Delete',
            async () => {
              const ok = await confirmDialog({
                title: `Force delete ${c.username}?`,
                body: [
                  h('p', {}, 'Deletes even while a password change is in flight. Lost for good:'),
                  h(
                    'ul',
                    {},
                    h('li', {}, 'the stored password and its history'),
                    h(
                      'li',
                      { class: 'error' },
                      'the new password of a change in flight: if the agent already set it on the target, nobody will know the password of this account',
                    ),
                    h('li', {}, 'the outcome of any job running now'),
                  ),
                  h('p', {}, 'This cannot be undone.'),
                ],
                confirm: 'Force delete',
                danger: true,
              });
              if (
                ok &&
                (await act(
                  'Force delete',
                  () => api.del(`/credentials/${id}?force=true`),
                  'Credential deleted',
                ))
              )
                location.hash = '#/credentials';
            },
            { kind: 'danger' },
          ),
        ];

  // Admin: the password someone set on the target by hand is stored without changing it again.
  const storedPasswordButton = (c: Credential): HTMLElement =>
    button(
      'Set stored password',
      async () => {
        if (
          await formDialog({
            title: 'Set the stored password',
            intro: `The password that is on ${c.targetName} for ${c.username} now (changed there by hand). It is stored without changing it again, then verified at once. Audited like a reveal.`,
            fields: [
              { name: 'password', label: 'Password now on the target', type: 'password', required: true },
              {
                name: 'pushDependencies',
                label: 'Push it to every dependency once verified',
                type: 'checkbox',
                value: false,
              },
            ],
            confirm: 'Store password',
            submit: (v) =>
              api.post(`/credentials/${id}/stored-password`, {
                password: v.password,
                pushDependencies: v.pushDependencies === true,
              }),
            done: 'Password stored; verification queued',
          })
        )
          await load();
      },
      { title: 'Store the password set on the target by hand, without changing it' },
    );

  await load();
  return { title: 'Credential', refresh: load };
};

function fact(label: string, value: Child): HTMLElement[] {
  return [h('dt', {}, label), h('dd', {}, value)];
}
