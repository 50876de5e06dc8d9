import { z } from 'zod';
import {
  ChannelView,
  CreateChannelBody,
  DELIVERY_STATES,
  DeliveryView,
  UpdateChannelBody,
} from '../../shared/contracts/alerts.js';
import { listOf, queryInt } from '../../shared/contracts/api.js';
import { SyncError } from '../../shared/errors.js';
import {
  changeChannel,
  channelView,
  createChannel,
  deliveryView,
  removeChannel,
  testChannel,
} from '../alerts/operations.js';
import { getChannel, listChannels, listDeliveries } from '../alerts/store.js';
import type { Ctx } from '../context.js';
import { actOf } from '../http/actor.js';
import { decodeCursor, encodeCursor, TimeKey, UuidKey } from '../http/cursor.js';
import { IdParams, type Routes } from '../http/routes.js';

const WithSecret = ChannelView.extend({
  secret: z.string().optional().describe('the webhook signing secret: shown once (create, rotateSecret)'),
});

/** Notification channels (docs/alerts.md): webhooks and e-mail, admin only. */
export function registerNotificationChannelRoutes(ctx: Ctx, routes: Routes): void {
  const tag = 'notification-channels';
  routes.add({
    method: 'POST',
    url: '/api/v1/notification-channels',
    conflict: 'a channel with this name exists',
    summary: 'Create a notification channel (a webhook: its signing secret is shown once)',
    tag,
    auth: 'admin',
    body: CreateChannelBody,
    response: { status: 201, schema: WithSecret },
    handler: ({ body }, req) => createChannel(ctx, actOf(req), body),
  });
  routes.add({
    method: 'GET',
    url: '/api/v1/notification-channels',
    summary: 'List notification channels (never a secret or a password)',
    tag,
    auth: 'admin',
    response: { status: 200, schema: z.object({ items: z.array(ChannelView) }) },
    handler: async () => ({ items: (await listChannels(ctx.db)).map(channelView) }),
  });
  routes.add({
    method: 'GET',
    url: '/api/v1/notification-channels/:id',
    summary: 'One notification channel',
    tag,
    auth: 'admin',
    params: IdParams,
    response: { status: 200, schema: ChannelView },
    handler: async ({ params }) => {
      const c = await getChannel(ctx.db, params.id);
      if (!c) throw new SyncError('NOT_FOUND', `notification channel ${params.id} not found`);
      return channelView(c);
    },
  });
  routes.add({
    method: 'PATCH',
    url: '/api/v1/notification-channels/:id',
    conflict: 'a channel with this name exists',
    summary:
      'Change a notification channel (name, enabled, filter, its webhook or e-mail settings, a new secret)',
    tag,
    auth: 'admin',
    params: IdParams,
    body: UpdateChannelBody,
    response: { status: 200, schema: WithSecret },
    handler: ({ params, body }, req) => changeChannel(ctx, actOf(req), params.id, body),
  });
  routes.add({
    method: 'DELETE',
    url: '/api/v1/notification-channels/:id',
    summary: 'Delete a notification channel and its deliveries',
    tag,
    auth: 'admin',
    params: IdParams,
    response: { status: 200, schema: z.object({ id: z.uuid(), deleted: z.literal(true) }) },
    handler: async ({ params }, req) => {
      await removeChannel(ctx, actOf(req), params.id);
      return { id: params.id, deleted: true as const };
    },
  });
  routes.add({
    method: 'POST',
    url: '/api/v1/notification-channels/:id/test',
    summary: 'Send a test alert to the channel now; answers its delivery (sent, or retrying with the reason)',
    tag,
    auth: 'admin',
    params: IdParams,
    response: { status: 200, schema: DeliveryView },
    handler: ({ params }, req) => testChannel(ctx, actOf(req), params.id),
  });
  routes.add({
    method: 'GET',
    url: '/api/v1/notification-channels/:id/deliveries',
    summary:
      "A channel's deliveries, newest first (sent, retrying, failed with the receiver's status), in pages (cursor)",
    tag,
    auth: 'admin',
    params: IdParams,
    query: z.strictObject({
      state: z.enum(DELIVERY_STATES).optional(),
      limit: queryInt(1, 500).default(100),
      cursor: z.string().max(200).optional(),
    }),
    response: { status: 200, schema: listOf(DeliveryView) },
    handler: async ({ params, query }) => {
      const c = await getChannel(ctx.db, params.id);
      if (!c) throw new SyncError('NOT_FOUND', `notification channel ${params.id} not found`);
      const after = query.cursor ? decodeCursor(query.cursor, z.tuple([TimeKey, UuidKey])) : null;
      const rows = await listDeliveries(ctx.db, params.id, query.state, after, query.limit + 1);
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      return {
        items: page.map(deliveryView),
        nextCursor: rows.length > query.limit && last ? encodeCursor([last.sort_key, last.id]) : null,
      };
    },
  });
}
