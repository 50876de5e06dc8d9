import { readFileSync } from 'node:fs';
import type { ChannelView, DeliveryView } from '../shared/contracts/alerts.js';
import type { ApiClient } from './client.js';
import { table } from './format.js';

/** `syncctl channels …`: notification channels (docs/alerts.md), admin. */
export const CHANNELS_USAGE = `  channels list | get ID | delete ID | enable ID | disable ID
  channels create-webhook --name N --url URL [--format json|slack|teams] [FILTER]   prints the signing
                                           secret once
  channels create-email --name N --host H --port P --from ADDR --to ADDR,… [--security starttls|tls|none]
                        [--username U --password-stdin] [FILTER]
                                           FILTER: [--events TYPE,…] [--sites ID,…] [--statuses S,…]
  channels rotate-secret ID                a new webhook signing secret, printed once
  channels test ID                         send a test alert now; prints its delivery
  channels deliveries ID [--state pending|retrying|sent|failed] [--limit N]
`;

type Flags = Record<string, string | boolean | undefined>;
const str = (v: string | boolean | undefined) => (typeof v === 'string' ? v : undefined);
const list = (v: string | boolean | undefined) =>
  typeof v === 'string'
    ? v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : undefined;

function need(value: string | undefined, what: string): string {
  if (!value) throw new Error(`missing ${what} (see syncctl --help)`);
  return value;
}

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

export async function runChannelsCommand(
  api: ApiClient,
  action: string | undefined,
  id: string | undefined,
  flags: Flags,
  out: (value: unknown, render: () => string) => void,
): Promise<number> {
  const base = '/api/v1/notification-channels';
  const one = (c: ChannelView & { secret?: string }) =>
    out(c, () =>
      [table([row(c)], COLUMNS), c.secret ? `signing secret (shown once): ${c.secret}` : '']
        .filter(Boolean)
        .join('\n'),
    );
  switch (action) {
    case 'list': {
      const r = await api.call<{ items: ChannelView[] }>('GET', base);
      out(r, () => table(r.items.map(row), COLUMNS));
      return 0;
    }
    case 'get':
      one(await api.call<ChannelView>('GET', `${base}/${need(id, 'ID')}`));
      return 0;
    case 'create-webhook':
      one(
        await api.call<ChannelView>('POST', base, {
          kind: 'webhook',
          name: need(str(flags.name), '--name'),
          webhook: {
            url: need(str(flags.url), '--url'),
            ...(str(flags.format) ? { format: str(flags.format) } : {}),
          },
          ...filterOf(flags),
        }),
      );
      return 0;
    case 'create-email': {
      const password = flags['password-stdin'] ? readFileSync(0, 'utf8').replace(/\r?\n$/, '') : undefined;
      one(
        await api.call<ChannelView>('POST', base, {
          kind: 'email',
          name: need(str(flags.name), '--name'),
          email: {
            host: need(str(flags.host), '--host'),
            port: Number(need(str(flags.port), '--port')),
            from: need(str(flags.from), '--from'),
            to: list(flags.to) ?? [],
            ...(str(flags.security) ? { security: str(flags.security) } : {}),
            ...(str(flags.username) ? { username: str(flags.username) } : {}),
            ...(password ? { password } : {}),
          },
          ...filterOf(flags),
        }),
      );
      return 0;
    }
    case 'enable':
    case 'disable':
      one(
        await api.call<ChannelView>('PATCH', `${base}/${need(id, 'ID')}`, { enabled: action === 'enable' }),
      );
      return 0;
    case 'rotate-secret':
      one(await api.call<ChannelView>('PATCH', `${base}/${need(id, 'ID')}`, { rotateSecret: true }));
      return 0;
    case 'delete': {
      const r = await api.call<{ id: string }>('DELETE', `${base}/${need(id, 'ID')}`);
      out(r, () => `notification channel ${r.id} deleted`);
      return 0;
    }
    case 'test': {
      const d = await api.call<DeliveryView>('POST', `${base}/${need(id, 'ID')}/test`);
      out(d, () => table([d], DELIVERY_COLUMNS));
      return d.state === 'sent' ? 0 : 3;
    }
    case 'deliveries': {
      const q = new URLSearchParams(
        Object.entries({ state: str(flags.state), limit: str(flags.limit) }).filter(
          (e): e is [string, string] => e[1] !== undefined,
        ),
      ).toString();
      const r = await api.call<{ items: DeliveryView[] }>(
        'GET',
        `${base}/${need(id, 'ID')}/deliveries${q ? `?${q}` : ''}`,
      );
      out(r, () => table(r.items, DELIVERY_COLUMNS));
      return 0;
    }
    default:
      throw new Error(`unknown command 'channels ${action ?? ''}' (see syncctl --help)`);
  }
}
