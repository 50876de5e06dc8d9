import { api, fetchPages, qs } from '../api.js';
import { append, confirmDialog, h, refreshRegion, timeEl } from '../dom.js';
import { formDialog, showOnce } from '../forms.js';
import { act, type Page } from '../page.js';
import { can } from '../session.js';
import { button, table } from '../ui.js';
import {
  ALERT_TYPE_LABELS,
  CHANNEL_KIND_LABELS,
  DELIVERY_STATE_LABELS,
  labelOf,
  SMTP_SECURITIES,
  WEBHOOK_FORMATS,
  type Channel,
  type Delivery,
} from '../vocabulary.js';

/** Deliveries a channel shows at first, and how many more "Load older deliveries" adds. */
const DELIVERIES_PAGE = 20;

/** The deliveries a channel shows: the newest ones, then older pages as asked for. */
interface Shown {
  items: Delivery[];
  nextCursor: string | null;
}

const commaList = (v: string): string[] =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

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
    h(
      'div',
      { class: 'actions' },
      button('New webhook', () => createWebhook(), { kind: 'primary', key: 'new-webhook' }),
      button('New e-mail channel', () => createEmail(), { key: 'new-email' }),
    ),
    list,
  ]);
  const shown = new Map<string, Shown>();

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
          options: WEBHOOK_FORMATS.map((f) => ({ value: f, label: f })),
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

  /** An e-mail channel over SMTP; the API's refusal (naming the field) is shown in the dialog. */
  const createEmail = async () => {
    const created = await formDialog({
      title: 'New e-mail channel',
      intro: 'Alerts are mailed over SMTP, STARTTLS by default (docs/alerts.md).',
      fields: [
        { name: 'name', label: 'Name', required: true },
        { name: 'host', label: 'SMTP host', required: true },
        { name: 'port', label: 'SMTP port', type: 'number', value: 587, help: '587 (STARTTLS), 465 (TLS).' },
        {
          name: 'security',
          label: 'Security',
          type: 'select',
          value: 'starttls',
          options: SMTP_SECURITIES.map((s) => ({ value: s, label: s })),
        },
        {
          name: 'username',
          label: 'SMTP user name',
          help: 'Leave empty if the server takes mail without a login.',
        },
        {
          name: 'password',
          label: 'SMTP password',
          type: 'password',
          help: 'Stored sealed with the master key, never shown again.',
        },
        { name: 'from', label: 'From', required: true },
        { name: 'to', label: 'To', required: true, help: 'One or more addresses, separated by commas.' },
      ],
      confirm: 'Create channel',
      done: 'E-mail channel created',
      submit: (v) =>
        api.post('/notification-channels', {
          kind: 'email',
          name: v.name,
          email: {
            host: v.host,
            // Sent as typed: the API names a port it refuses (body.email.port).
            port: v.port === '' ? null : Number(v.port),
            security: v.security,
            ...(v.username ? { username: v.username } : {}),
            ...(v.password ? { password: v.password } : {}),
            from: v.from,
            to: commaList(String(v.to)),
          },
        }),
    });
    if (created) await load();
  };

  const olderDeliveries = async (c: Channel) => {
    const mine = shown.get(c.id);
    if (!mine?.nextCursor) return;
    const page = await api.get<Shown>(
      `/notification-channels/${c.id}/deliveries${qs({ limit: DELIVERIES_PAGE, cursor: mine.nextCursor })}`,
    );
    shown.set(c.id, { items: [...mine.items, ...page.items], nextCursor: page.nextCursor });
    render(channels);
  };

  const channelSection = (c: Channel, { items: deliveries, nextCursor }: Shown) =>
    h(
      'section',
      { class: 'card channel', 'aria-labelledby': `ch-${c.id}` },
      h(
        'div',
        { class: 'page-head' },
        h('h2', { id: `ch-${c.id}` }, c.name),
        h('span', { class: 'badge' }, c.enabled ? 'Enabled' : 'Disabled'),
      ),
      h('p', { class: 'muted' }, `${labelOf(CHANNEL_KIND_LABELS, c.kind)}: ${target(c)}`),
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
          h('span', { title: d.type }, labelOf(ALERT_TYPE_LABELS, d.type)),
          h('span', { class: `badge delivery-${d.state}` }, labelOf(DELIVERY_STATE_LABELS, d.state)),
          d.attempts,
          d.lastStatus ?? '—',
          d.lastError ?? '',
          timeEl(d.sentAt),
        ]),
        { empty: 'No deliveries yet: send a test.' },
      ),
      nextCursor
        ? h(
            'p',
            {},
            button('Load older deliveries', () => olderDeliveries(c), {
              key: `older-${c.id}`,
              ariaLabel: `Load older deliveries to ${c.name}`,
            }),
          )
        : null,
    );

  let channels: Channel[] = [];
  const render = (items: Channel[]) =>
    refreshRegion(
      list,
      items.length
        ? items.map((c) => channelSection(c, shown.get(c.id) ?? { items: [], nextCursor: null }))
        : h(
            'p',
            { class: 'muted' },
            'No notification channels yet (syncctl channels, New webhook or New e-mail channel).',
          ),
    );

  const load = async () => {
    const { items } = await api.get<{ items: Channel[] }>('/notification-channels');
    // As many deliveries as each channel shows (more after "Load older deliveries"), from the newest.
    const pages = await Promise.all(
      items.map((c) =>
        fetchPages<Delivery>(
          `/notification-channels/${c.id}/deliveries`,
          {},
          Math.max(DELIVERIES_PAGE, shown.get(c.id)?.items.length ?? 0),
        ),
      ),
    );
    shown.clear();
    items.forEach((c, i) => shown.set(c.id, pages[i]!));
    channels = items;
    render(channels);
  };
  await load();
  return { title: 'Alerts', refresh: load };
};
