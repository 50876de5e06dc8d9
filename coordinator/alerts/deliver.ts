import { EmailConfig, WebhookConfig } from '../../shared/contracts/alerts.js';
import type { Ctx } from '../context.js';
import { sendMail, sendWebhook, type Attempt } from './send.js';
import { claimDeliveries, finishDelivery, getChannel, type ChannelRow, type DeliveryRow } from './store.js';

/** The field a channel's secret is sealed for (AAD: the channel id and this). */
export const CHANNEL_SECRET_FIELD = 'channel_secret';

const MAX_BACKOFF_MS = 3_600_000;
const PER_ROUND = 20;

/** The wait after `attempts` failed attempts: ALERT_RETRY_BASE_MS doubling, at most an hour. */
const backoffMs = (base: number, attempts: number): number =>
  Math.min(base * 2 ** Math.max(0, attempts - 1), MAX_BACKOFF_MS);

async function send(ctx: Ctx, channel: ChannelRow, row: DeliveryRow): Promise<Attempt> {
  const secret =
    channel.secret === null ? null : ctx.box.open(channel.secret, channel.id, CHANNEL_SECRET_FIELD);
  const timeout = ctx.config.ALERT_SEND_TIMEOUT_MS;
  if (channel.kind === 'webhook') {
    return sendWebhook(WebhookConfig.parse(channel.config), secret ?? '', row.body, timeout);
  }
  return sendMail(EmailConfig.parse(channel.config), secret, row.body, timeout, ctx.config.smtpCa);
}

/** One attempt of one leased delivery, and its end: sent, retrying with backoff, or failed for good. */
async function attempt(ctx: Ctx, row: DeliveryRow, token: string): Promise<void> {
  const channel = await getChannel(ctx.db, row.channel_id);
  if (!channel) return; // deleted meanwhile: its deliveries went with it
  let result: Attempt;
  try {
    result = await send(ctx, channel, row);
  } catch (err) {
    // A secret that does not open (wrong master key), a stored config that no longer parses.
    result = { ok: false, status: null, error: (err as Error).message.slice(0, 200) };
  }
  const now = Date.now();
  const retryAt = new Date(now + backoffMs(ctx.config.ALERT_RETRY_BASE_MS, row.attempts));
  const state = result.ok
    ? 'sent'
    : retryAt.getTime() - row.created_at.getTime() > ctx.config.ALERT_RETRY_FOR_MS
      ? 'failed'
      : 'retrying';
  await finishDelivery(ctx.db, row.id, token, {
    state,
    status: result.status,
    error: result.error,
    retryAt: state === 'retrying' ? retryAt : null,
  });
  ctx.metrics.deliveryAttempts.inc({ kind: channel.kind, result: state });
  if (state !== 'sent') {
    ctx.log.warn(
      {
        delivery: row.id,
        channel: channel.id,
        alert: row.alert_id,
        status: result.status,
        error: result.error,
        state,
      },
      'notification not delivered',
    );
  }
}

/**
 * Sends the deliveries that are due (or the one `onlyId`, due or not), under a lease of this
 * replica (`token`) long enough for the attempt: at least once, never by two replicas at once.
 */
export async function deliverDue(ctx: Ctx, token: string, onlyId?: string): Promise<number> {
  const leaseMs = ctx.config.ALERT_SEND_TIMEOUT_MS * 2 + 30_000;
  const rows = await claimDeliveries(ctx.db, token, leaseMs, PER_ROUND, onlyId);
  await Promise.all(rows.map((r) => attempt(ctx, r, token)));
  return rows.length;
}
