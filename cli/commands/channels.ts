import type { ChannelView, DeliveryView } from '../../shared/contracts/alerts.js';
import { table } from '../format.js';
import { apiPath, intFlag, need, needId, passwordFrom, str, type Command, type Flags } from './command.js';

/** `syncctl channels …`: notification channels (docs/alerts.md), admin. */
const BASE = apiPath('/notification-channels');
const FILTER = '[--events TYPE,…] [--sites ID,…] [--statuses S,…]';

const list = (v: string | boolean | undefined) =>
  typeof v === 'string'
    ? v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : undefined;

function filterOf(flags: Flags) {
  const filter = {
    eventTypes: list(flags.events),
    siteIds: list(flags.sites),
    statuses: list(flags.statuses),
  };
  return Object.values(filter).some(Boolean) ? { filter } : {};
}

const COLUMNS = ['id', 'name', 'kind', 'enabled', 'target', 'filter'];
const row = (c: ChannelView) => ({
  ...c,
  target: c.webhook
    ? `${c.webhook.url} (${c.webhook.format})`
    : `${c.email?.to.join(',')} via ${c.email?.host}`,
  filter: [...c.filter.eventTypes, ...c.filter.siteIds, ...c.filter.statuses].join(',') || 'everything',
});
const DELIVERY_COLUMNS = [
  'id',
  'createdAt',
  'type',
  'state',
  'attempts',
  'lastStatus',
  'lastError',
  'alertId',
];

/** One channel as a table line, with the signing secret when the API shows it (once). */
const one = (c: ChannelView & { secret?: string }) => (): string =>
  [table([row(c)], COLUMNS), c.secret ? `signing secret (shown once): ${c.secret}` : '']
    .filter(Boolean)
    .join('\n');

/** `channels enable ID`, `disable ID`, `rotate-secret ID`: a PATCH, the channel printed. */
const patch = (name: string, body: object, summary: string): Command => ({
  name: `channels ${name}`,
  arguments: 'ID',
  summary,
  async handler({ api, args: [id], out }) {
    const c = await api.call<ChannelView>('PATCH', `${BASE}/${needId(id)}`, body);
    out(c, one(c));
    return 0;
  },
});

export const channelCommands: Command[] = [
  {
    name: 'channels list',
    summary: 'notification channels (admin)',
    async handler({ api, out }) {
      const r = await api.call<{ items: ChannelView[] }>('GET', BASE);
      out(r, () => table(r.items.map(row), COLUMNS));
      return 0;
    },
  },
  {
    name: 'channels get',
    arguments: 'ID',
    summary: 'one notification channel',
    async handler({ api, args: [id], out }) {
      const c = await api.call<ChannelView>('GET', `${BASE}/${needId(id)}`);
      out(c, one(c));
      return 0;
    },
  },
  {
    name: 'channels create-webhook',
    // Not --url: that is the coordinator's (an option of every command).
    options: `--name N --webhook-url URL [--format json|slack|teams] ${FILTER}`,
    summary: 'a webhook channel; prints its signing secret once',
    async handler({ api, flags, out }) {
      const c = await api.call<ChannelView>('POST', BASE, {
        kind: 'webhook',
        name: need(str(flags.name), '--name'),
        webhook: {
          url: need(str(flags['webhook-url']), '--webhook-url'),
          ...(str(flags.format) ? { format: str(flags.format) } : {}),
        },
        ...filterOf(flags),
      });
      out(c, one(c));
      return 0;
    },
  },
  {
    name: 'channels create-email',
    options:
      '--name N --host H --port P --from ADDR --to ADDR,… [--security starttls|tls|none] ' +
      `[--username U --password-stdin] ${FILTER}`,
    summary: 'an e-mail channel over SMTP (STARTTLS by default)',
    async handler({ api, flags, out }) {
      const password = flags['password-stdin'] ? passwordFrom(flags) : undefined;
      const c = await api.call<ChannelView>('POST', BASE, {
        kind: 'email',
        name: need(str(flags.name), '--name'),
        email: {
          host: need(str(flags.host), '--host'),
          port: need(intFlag(flags, 'port'), '--port'),
          from: need(str(flags.from), '--from'),
          to: need(list(flags.to), '--to'),
          ...(str(flags.security) ? { security: str(flags.security) } : {}),
          ...(str(flags.username) ? { username: str(flags.username) } : {}),
          ...(password ? { password } : {}),
        },
        ...filterOf(flags),
      });
      out(c, one(c));
      return 0;
    },
  },
  patch('enable', { enabled: true }, 'deliver alerts to it again'),
  patch('disable', { enabled: false }, 'stop delivering alerts to it'),
  patch('rotate-secret', { rotateSecret: true }, 'a new webhook signing secret, printed once'),
  {
    name: 'channels delete',
    arguments: 'ID',
    summary: 'delete a notification channel',
    async handler({ api, args: [id], out }) {
      const r = await api.call<{ id: string }>('DELETE', `${BASE}/${needId(id)}`);
      out(r, () => `notification channel ${r.id} deleted`);
      return 0;
    },
  },
  {
    name: 'channels test',
    arguments: 'ID',
    summary: 'send a test alert now; prints its delivery (exits 3 unless it was sent)',
    async handler({ api, args: [id], out }) {
      const d = await api.call<DeliveryView>('POST', `${BASE}/${needId(id)}/test`);
      out(d, () => table([d], DELIVERY_COLUMNS));
      return d.state === 'sent' ? 0 : 3;
    },
  },
  {
    name: 'channels deliveries',
    arguments: 'ID',
    options: '[--state pending|retrying|sent|failed] [--limit N] [--cursor C] [--all]',
    summary: "the channel's delivery history, newest first",
    handler: ({ args: [id], flags, list }) =>
      list(`/notification-channels/${needId(id)}/deliveries`, { state: str(flags.state) }, DELIVERY_COLUMNS),
  },
];
