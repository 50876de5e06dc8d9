import { api } from '../api.js';
import { append, confirmDialog, h, refreshRegion, timeEl } from '../dom.js';
import { formDialog, showOnce } from '../forms.js';
import { act, type Page } from '../page.js';
import { can } from '../session.js';
import { button, table } from '../ui.js';

/** GET /notification-channels (docs/alerts.md#channels): the fields this page shows. */
interface Channel {
  id: string;
  name: string;
  kind: string;
  enabled: boolean;
  webhook: { url: string; format: string } | null;
  email: { host: string; port: number; to: string[] } | null;
}

/** GET /notification-channels/{id}/deliveries. */
interface Delivery {
  id: string;
  type: string;
  state: string;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: string;
  sentAt: string | null;
}

const FORMATS = ['json', 'slack', 'teams'];
const DELIVERIES_SHOWN = 20;

const target = (c: Channel): string =>
  c.webhook
    ? `${c.webhook.url} (${c.webhook.format})`
    : c.email
      ? `${c.email.to.join(', ')} via ${c.email.host}`
      : '';

/** Notification channels and their deliveries (docs/alerts.md): admin only, as the API is. */
export const alertsPage: Page = async ({ root }) => {
  append(root, [h('div', { class: 'page-head' }, h('h1', {}, 'Alerts'))]);
  if (!can('admin')) {
    append(root, [
      h(
        'p',
        { class: 'muted', 'data-testid': 'alerts-admin-only' },
        'Notification channels are managed by administrators: sign in with an admin token to see them.',
      ),
    ]);
    return { title: 'Alerts' };
  }
  const list = h('div', {});
  append(root, [
    h(
      'p',
      { class: 'muted' },
      'Alerts go to these channels; a webhook request is signed with the channel’s secret (docs/alerts.md).',
    ),
    button('New webhook', () => createWebhook(), { kind: 'primary', key: 'new-webhook' }),
    list,
  ]);

  const createWebhook = async () => {
    let secret: string | undefined;
    await formDialog({
      title: 'New webhook channel',
      fields: [
        { name: 'name', label: 'Name', required: true },
        {
          name: 'url',
          label: 'URL',
          required: true,
          help: 'http:// or https://; redirects are not followed.',
        },
        {
          name: 'format',
          label: 'Format',
          type: 'select',
          value: 'json',
          options: FORMATS.map((f) => ({ value: f, label: f })),
        },
      ],
      confirm: 'Create channel',
      submit: async (v) => {
        const created = await api.post<{ secret?: string }>('/notification-channels', {
          kind: 'webhook',
          name: v.name,
          webhook: { url: v.url, format: v.format },
        });
        secret = created.secret;
      },
    });
    if (secret)
      await showOnce(
        'Signing secret',
        'Shown once: the receiver checks each request’s signature with it (docs/alerts.md).',
        secret,
      );
    await load();
  };

  const channelSection = (c: Channel, deliveries: Delivery[]) =>
    h(
      'section',
      { class: 'card channel', 'aria-labelledby': `ch-${c.id}` },
      h(
        'div',
        { class: 'page-head' },
        h('h2', { id: `ch-${c.id}` }, c.name),
        h('span', { class: 'badge' }, c.enabled ? 'Enabled' : 'Disabled'),
      ),
      h('p', { class: 'muted' }, `${c.kind}: ${target(c)}`),
      h(
        'div',
        { class: 'actions' },
        button(
          'Send test',
          async () => {
            await act(
              `Test ${c.name}`,
              () => api.post(`/notification-channels/${c.id}/test`),
              `Test alert sent to ${c.name}`,
            );
            await load();
          },
          { key: `test-${c.id}`, ariaLabel: `Send a test alert to ${c.name}` },
        ),
        button(
          c.enabled ? 'Disable' : 'Enable',
          async () => {
            await act(
              `${c.enabled ? 'Disable' : 'Enable'} ${c.name}`,
              () => api.patch(`/notification-channels/${c.id}`, { enabled: !c.enabled }),
              `${c.name} ${c.enabled ? 'disabled' : 'enabled'}`,
            );
            await load();
          },
          { key: `toggle-${c.id}`, ariaLabel: `${c.enabled ? 'Disable' : 'Enable'} ${c.name}` },
        ),
        button(
          'Delete',
          async () => {
            const ok = await confirmDialog({
              title: `Delete ${c.name}?`,
              body: [h('p', {}, 'Its deliveries are deleted with it.')],
              confirm: 'Delete channel',
              danger: true,
            });
            if (ok)
              await act(
                `Delete ${c.name}`,
                () => api.del(`/notification-channels/${c.id}`),
                `${c.name} deleted`,
              );
            await load();
          },
          { kind: 'danger', key: `delete-${c.id}`, ariaLabel: `Delete ${c.name}` },
        ),
      ),
      h('h3', {}, 'Deliveries'),
      table(
        `Deliveries to ${c.name}, newest first`,
        ['Created', 'Alert', 'State', 'Attempts', 'Last status', 'Last error', 'Sent'],
        deliveries.map((d) => [
          timeEl(d.createdAt),
          d.type,
          h('span', { class: `badge delivery-${d.state}` }, d.state),
          d.attempts,
          d.lastStatus ?? '—',
          d.lastError ?? '',
          timeEl(d.sentAt),
        ]),
        { empty: 'No deliveries yet: send a test.' },
      ),
    );

  const load = async () => {
    const { items } = await api.get<{ items: Channel[] }>('/notification-channels');
    const deliveries = await Promise.all(
      items.map((c) =>
        api.get<{ items: Delivery[] }>(`/notification-channels/${c.id}/deliveries?limit=${DELIVERIES_SHOWN}`),
      ),
    );
    refreshRegion(
      list,
      items.length
        ? items.map((c, i) => channelSection(c, deliveries[i]!.items))
        : h('p', { class: 'muted' }, 'No notification channels yet (syncctl channels, or New webhook).'),
    );
  };
  await load();
  return { title: 'Alerts', refresh: load };
};
