import { createHmac } from 'node:crypto';
import type { AlertBody, EmailConfig, WebhookConfig } from '../../shared/contracts/alerts.js';
import { VERSION } from '../../shared/version.js';

/** What one attempt gave: sent, or not with the receiver's status (HTTP, SMTP) and why. */
export interface Attempt {
  ok: boolean;
  status: number | null;
  error: string | null;
}

/**
 * The signature of a webhook: HMAC-SHA256 with the channel's secret over `<timestamp>.<body>`
 * (the timestamp in Unix seconds, sent as X-Signature-Timestamp), hex, as `sha256=<hex>`.
 */
export function signature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** What Slack's and Teams' incoming webhooks take: the alert's summary and its main facts. */
function chatBody(alert: AlertBody, format: 'slack' | 'teams'): object {
  const facts = [
    `severity: ${alert.severity}`,
    alert.site ? `site: ${alert.site.name ?? alert.site.id}` : null,
    alert.reason ? `reason: ${alert.reason}` : null,
    alert.count > 1 ? `count: ${alert.count}` : null,
    `id: ${alert.id}`,
  ].filter(Boolean);
  const text = `${alert.summary}\n${facts.join(' · ')}`;
  return format === 'slack'
    ? { text }
    : { '@type': 'MessageCard', '@context': 'https://schema.org/extensions', summary: alert.summary, text };
}

const errorText = (err: unknown): string => {
  const e = err as { name?: string; code?: string; cause?: { code?: string }; message?: string };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'timed out';
  // Never the URL (it can hold a token of the receiver): the error's code or a short message.
  return (e.cause?.code ?? e.code ?? e.message ?? 'failed').slice(0, 200);
};

export async function sendWebhook(
  cfg: WebhookConfig,
  secret: string,
  alert: AlertBody,
  timeoutMs: number,
): Promise<Attempt> {
  const body = JSON.stringify(cfg.format === 'json' ? alert : chatBody(alert, cfg.format));
  const timestamp = String(Math.floor(Date.now() / 1000));
  try {
    const res = await fetch(cfg.url, {
      method: 'POST',
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
      headers: {
        'content-type': 'application/json',
        'user-agent': `sync-coordinator/${VERSION}`,
        'x-signature': signature(secret, timestamp, body),
        'x-signature-timestamp': timestamp,
        'x-event-id': alert.id,
        'x-event-type': alert.type,
      },
      body,
    });
    await res.body?.cancel().catch(() => undefined);
    const ok = res.status >= 200 && res.status < 300;
    return { ok, status: res.status, error: ok ? null : `HTTP ${res.status}` };
  } catch (err) {
    return { ok: false, status: null, error: errorText(err) };
  }
}

/** The mail of an alert: the summary as subject, the facts and the alert's JSON as text. */
function mailText(alert: AlertBody): string {
  return [
    alert.summary,
    '',
    `type: ${alert.type}`,
    `severity: ${alert.severity}`,
    `at: ${alert.at}`,
    ...(alert.site ? [`site: ${alert.site.name ?? ''} (${alert.site.id})`] : []),
    ...(alert.reason ? [`reason: ${alert.reason}`] : []),
    `count: ${alert.count}`,
    `id: ${alert.id}`,
    '',
    JSON.stringify(alert, null, 2),
  ].join('\n');
}

export async function sendMail(
  cfg: EmailConfig,
  password: string | null,
  alert: AlertBody,
  timeoutMs: number,
  ca: Buffer | undefined,
): Promise<Attempt> {
  // Loaded on the first e-mail, not at start: most coordinators send none (docs/benchmarks.md, "Agent memory", the coordinator).
  const { default: nodemailer } = await import('nodemailer');
  const transport = nodemailer.createTransport({
    host: cfg.host,
    port: cfg.port,
    secure: cfg.security === 'tls',
    requireTLS: cfg.security === 'starttls',
    ignoreTLS: cfg.security === 'none',
    ...(cfg.username ? { auth: { user: cfg.username, pass: password ?? '' } } : {}),
    ...(ca ? { tls: { ca } } : {}),
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
  });
  try {
    const info = await transport.sendMail({
      from: cfg.from,
      to: cfg.to,
      subject: `[${alert.severity}] ${alert.summary}`.slice(0, 250),
      text: mailText(alert),
      headers: { 'X-Event-Id': alert.id, 'X-Event-Type': alert.type },
    });
    const code = Number(/^(\d{3})/.exec(String(info.response))?.[1] ?? 250);
    return { ok: true, status: code, error: null };
  } catch (err) {
    const e = err as { responseCode?: number };
    return { ok: false, status: e.responseCode ?? null, error: errorText(err) };
  } finally {
    transport.close();
  }
}
