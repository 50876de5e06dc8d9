import { randomUUID } from 'node:crypto';
import {
  type ChannelView,
  type CreateChannelBody,
  type DeliveryView,
  type UpdateChannelBody,
} from '../../shared/contracts/alerts.js';
import { randomSecret } from '../../shared/crypto.js';
import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { auditOperator, type OperatorAct } from '../store/audit.js';
import { CHANNEL_SECRET_FIELD, deliverDue } from './deliver.js';
import { queueTestAlert } from './dispatch.js';
import {
  deleteChannel,
  getChannel,
  getDelivery,
  insertChannel,
  updateChannel,
  type ChannelFields,
  type ChannelRow,
  type DeliveryRow,
} from './store.js';

/*
 * What an admin does to notification channels (docs/alerts.md#channels), without HTTP: the routes
 * of api/notification-channels.ts parse, call these and render. A webhook's signing secret is made
 * here, sealed, and returned once; an SMTP password is sealed and never returned.
 */

const iso = (d: Date | null) => d?.toISOString() ?? null;

export function channelView(c: ChannelRow): ChannelView {
  const cfg = c.config;
  return {
    id: c.id,
    name: c.name,
    kind: c.kind,
    enabled: c.enabled,
    filter: { eventTypes: c.event_types, siteIds: c.site_ids, statuses: c.statuses },
    webhook: c.kind === 'webhook' ? { url: String(cfg.url), format: String(cfg.format) } : null,
    email:
      c.kind === 'email'
        ? {
            host: String(cfg.host),
            port: Number(cfg.port),
            security: String(cfg.security),
            username: typeof cfg.username === 'string' ? cfg.username : null,
            hasPassword: c.secret !== null,
            from: String(cfg.from),
            to: cfg.to as string[],
          }
        : null,
    createdBy: c.created_by,
    createdAt: c.created_at.toISOString(),
    updatedAt: c.updated_at.toISOString(),
  };
}

export const deliveryView = (d: DeliveryRow): DeliveryView => ({
  id: d.id,
  channelId: d.channel_id,
  alertId: d.alert_id,
  type: d.alert_type,
  state: d.state,
  attempts: d.attempts,
  lastStatus: d.last_status,
  lastError: d.last_error,
  createdAt: d.created_at.toISOString(),
  nextAttemptAt: d.state === 'pending' || d.state === 'retrying' ? iso(d.next_attempt_at) : null,
  sentAt: iso(d.sent_at),
});

const webhookSecret = () => `whsec_${randomSecret()}`;

/** The config stored in the row: everything but the password (sealed in `secret`). */
function emailConfig(e: NonNullable<UpdateChannelBody['email']>): Record<string, unknown> {
  const { password: _password, ...rest } = e;
  return rest;
}

async function nameTaken(err: unknown, name: string): Promise<never> {
  if ((err as { code?: string }).code === '23505') {
    throw new SyncError('CONFLICT', `name: a notification channel named '${name}' exists`);
  }
  throw err;
}

export async function createChannel(
  ctx: Ctx,
  act: OperatorAct,
  body: CreateChannelBody,
): Promise<ChannelView & { secret?: string }> {
  const id = randomUUID();
  const plain = body.kind === 'webhook' ? webhookSecret() : (body.email.password ?? null);
  const fields: ChannelFields = {
    name: body.name,
    enabled: body.enabled,
    config: body.kind === 'webhook' ? body.webhook : emailConfig(body.email),
    secret: plain === null ? null : ctx.box.seal(plain, id, CHANNEL_SECRET_FIELD),
    ...body.filter,
  };
  const row = await ctx.db
    .tx(async (q) => {
      const r = await insertChannel(q, id, body.kind, fields, act.operatorId);
      await auditOperator(q, act, 'channel.create', 'notification_channel', id, {
        name: body.name,
        kind: body.kind,
      });
      return r;
    })
    .catch((err: unknown) => nameTaken(err, body.name));
  return body.kind === 'webhook' ? { ...channelView(row), secret: plain! } : channelView(row);
}

const wrongKind = (field: string, kind: string) =>
  new SyncError('VALIDATION_FAILED', `invalid body: body.${field}: not for a ${kind} channel`, {
    issues: [{ field: `body.${field}`, message: `not for a ${kind} channel` }],
  });

export async function changeChannel(
  ctx: Ctx,
  act: OperatorAct,
  id: string,
  body: UpdateChannelBody,
): Promise<ChannelView & { secret?: string }> {
  let secret: string | undefined;
  const row = await ctx.db
    .tx(async (q) => {
      const c = await getChannel(q, id, true);
      if (!c) throw new SyncError('NOT_FOUND', `notification channel ${id} not found`);
      if (c.kind === 'webhook' && body.email) throw wrongKind('email', c.kind);
      if (c.kind === 'email' && (body.webhook || body.rotateSecret)) {
        throw wrongKind(body.webhook ? 'webhook' : 'rotateSecret', c.kind);
      }
      let sealed = c.secret;
      if (body.rotateSecret) {
        secret = webhookSecret();
        sealed = ctx.box.seal(secret, id, CHANNEL_SECRET_FIELD);
      }
      if (body.email?.password !== undefined)
        sealed = ctx.box.seal(body.email.password, id, CHANNEL_SECRET_FIELD);
      const r = await updateChannel(q, id, {
        name: body.name ?? c.name,
        enabled: body.enabled ?? c.enabled,
        config: body.webhook ?? (body.email ? emailConfig(body.email) : c.config),
        secret: sealed,
        eventTypes: body.filter?.eventTypes ?? c.event_types,
        siteIds: body.filter?.siteIds ?? c.site_ids,
        statuses: body.filter?.statuses ?? c.statuses,
      });
      await auditOperator(q, act, 'channel.update', 'notification_channel', id, {
        fields: Object.keys(body),
      });
      return r;
    })
    .catch((err: unknown) => nameTaken(err, body.name ?? ''));
  return secret === undefined ? channelView(row) : { ...channelView(row), secret };
}

export async function removeChannel(ctx: Ctx, act: OperatorAct, id: string): Promise<void> {
  await ctx.db.tx(async (q) => {
    if (!(await deleteChannel(q, id)))
      throw new SyncError('NOT_FOUND', `notification channel ${id} not found`);
    await auditOperator(q, act, 'channel.delete', 'notification_channel', id);
  });
}

/**
 * Sends a `test` alert to the channel now (one attempt, bounded by ALERT_SEND_TIMEOUT_MS) and
 * returns its delivery: sent, or retrying like any other with the receiver's answer.
 */
export async function testChannel(ctx: Ctx, act: OperatorAct, id: string): Promise<DeliveryView> {
  const deliveryId = await ctx.db.tx(async (q) => {
    const c = await getChannel(q, id);
    if (!c) throw new SyncError('NOT_FOUND', `notification channel ${id} not found`);
    const d = await queueTestAlert(q, c);
    await auditOperator(q, act, 'channel.test', 'notification_channel', id, { delivery: d });
    return d;
  });
  await deliverDue(ctx, randomUUID(), deliveryId);
  return deliveryView((await getDelivery(ctx.db, deliveryId))!);
}
