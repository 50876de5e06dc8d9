import { z } from 'zod';
import { StatusSchema } from './status.js';

/**
 * The event vocabulary (docs/alerts.md): what the coordinator records in its outbox (the `events`
 * table, written in the transaction of the fact) and what alerts carry. `credential.flapping`,
 * `digest` and `test` are made by the alerting itself, never recorded as facts.
 */
export const EVENT_TYPES = [
  'credential.out_of_sync',
  'credential.agent_disabled',
  'credential.unsyncable',
  'credential.in_sync',
  'credential.change_succeeded',
  'credential.change_failed',
  'credential.change_outcome_unknown',
  'credential.suspended',
  'agent.offline',
  'agent.online',
  'agent.awaiting_approval',
  'site.no_working_agent',
  'site.agent_restored',
  'run.finished',
  'run.overdue',
  'system.master_key_rotated',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const ALERT_TYPES = [...EVENT_TYPES, 'credential.flapping', 'digest', 'test'] as const;
export type AlertType = (typeof ALERT_TYPES)[number];

export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const SEVERITY: Record<AlertType, Severity> = {
  'credential.out_of_sync': 'warning',
  'credential.agent_disabled': 'warning',
  'credential.unsyncable': 'warning',
  'credential.in_sync': 'info',
  'credential.change_succeeded': 'info',
  'credential.change_failed': 'warning',
  'credential.change_outcome_unknown': 'critical',
  'credential.suspended': 'critical',
  'credential.flapping': 'warning',
  'agent.offline': 'critical',
  'agent.online': 'info',
  'agent.awaiting_approval': 'warning',
  'site.no_working_agent': 'critical',
  'site.agent_restored': 'info',
  'run.finished': 'info',
  'run.overdue': 'warning',
  'system.master_key_rotated': 'info',
  digest: 'info',
  test: 'info',
};

export const SUBJECT_TYPES = ['credential', 'agent', 'site', 'run', 'system'] as const;

/**
 * The body of every webhook (format `json`) and the data of every mail: one alert. `id` is stable
 * across retries (de-duplicate on it: delivery is at least once). `count` > 1 with `grouping`
 * `site`: that many credentials of the site had the same event; `digest`: `data.lines` counts the
 * events held back since the last digest.
 */
export const AlertBody = z.object({
  id: z.string().describe('stable across retries: de-duplicate on it'),
  type: z.enum(ALERT_TYPES),
  severity: z.enum(SEVERITIES),
  at: z.string().describe('ISO 8601: when the (first) event happened'),
  summary: z.string().describe('one line for people'),
  site: z.object({ id: z.string(), name: z.string().nullable() }).nullable(),
  subject: z.object({
    type: z.enum(SUBJECT_TYPES),
    id: z.string().nullable(),
    name: z.string().nullable(),
  }),
  status: z.string().nullable().describe('credential events: the status'),
  reason: z.string().nullable().describe('the reason of an out_of_sync status or of a failed change'),
  count: z.number().int().describe('events this alert stands for'),
  grouping: z.enum(['none', 'site', 'flapping', 'digest']),
  eventIds: z.array(z.number().int()).describe('outbox ids of the events (at most 100)'),
  data: z.record(z.string(), z.unknown()).describe('type-specific facts (docs/alerts.md); never a secret'),
});
export type AlertBody = z.infer<typeof AlertBody>;

/** Webhook body formats: the alert as is (signed), or a message Slack's or Teams' incoming webhooks take. */
export const WEBHOOK_FORMATS = ['json', 'slack', 'teams'] as const;
/** SMTP connection security: STARTTLS required (default), TLS from the start (465), none. */
export const SMTP_SECURITIES = ['starttls', 'tls', 'none'] as const;

const http = z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' }).max(2048);
const email = z.email({ error: 'an e-mail address' }).max(320);

export const WebhookConfig = z.strictObject({
  url: http,
  format: z
    .enum(WEBHOOK_FORMATS)
    .default('json')
    .describe('json: the alert as is (signed); slack / teams: a message those incoming webhooks accept'),
});
export type WebhookConfig = z.infer<typeof WebhookConfig>;

export const EmailConfig = z.strictObject({
  host: z.string().trim().min(1).max(253),
  port: z.number({ error: 'a port number' }).int().min(1, 'a port 1-65535').max(65535, 'a port 1-65535'),
  security: z
    .enum(SMTP_SECURITIES)
    .default('starttls')
    .describe('starttls: plain connection upgraded (required); tls: TLS from the start (465); none'),
  username: z.string().min(1).max(256).optional(),
  password: z.string().min(1).max(1024).optional().describe('write-only: stored sealed, never shown'),
  from: email,
  to: z.array(email).min(1).max(50),
});
export type EmailConfig = z.infer<typeof EmailConfig>;

export const ChannelFilter = z.strictObject({
  eventTypes: z.array(z.enum(ALERT_TYPES)).max(50).default([]).describe('empty: every type'),
  siteIds: z.array(z.uuid()).max(1000).default([]).describe('empty: every site'),
  statuses: z
    .array(StatusSchema)
    .max(20)
    .default([])
    .describe('credential statuses; empty: every status (alerts without a status always pass)'),
});
export type ChannelFilter = z.infer<typeof ChannelFilter>;

const name = z.string().trim().min(1).max(100);

export const CreateChannelBody = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('webhook'),
    name,
    enabled: z.boolean().default(true),
    filter: ChannelFilter.default({ eventTypes: [], siteIds: [], statuses: [] }),
    webhook: WebhookConfig,
  }),
  z.strictObject({
    kind: z.literal('email'),
    name,
    enabled: z.boolean().default(true),
    filter: ChannelFilter.default({ eventTypes: [], siteIds: [], statuses: [] }),
    email: EmailConfig,
  }),
]);
export type CreateChannelBody = z.infer<typeof CreateChannelBody>;

export const UpdateChannelBody = z.strictObject({
  name: name.optional(),
  enabled: z.boolean().optional(),
  filter: ChannelFilter.optional(),
  webhook: WebhookConfig.optional().describe('webhook channels only'),
  email: EmailConfig.optional().describe('e-mail channels only; without password the stored one stays'),
  rotateSecret: z.boolean().optional().describe('webhook channels: a new signing secret, shown once'),
});
export type UpdateChannelBody = z.infer<typeof UpdateChannelBody>;

export const ChannelView = z.object({
  id: z.string(),
  name: z.string(),
  kind: z.enum(['webhook', 'email']),
  enabled: z.boolean(),
  filter: z.object({
    eventTypes: z.array(z.string()),
    siteIds: z.array(z.string()),
    statuses: z.array(z.string()),
  }),
  webhook: z.object({ url: z.string(), format: z.string() }).nullable(),
  email: z
    .object({
      host: z.string(),
      port: z.number(),
      security: z.string(),
      username: z.string().nullable(),
      hasPassword: z.boolean(),
      from: z.string(),
      to: z.array(z.string()),
    })
    .nullable(),
  createdBy: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type ChannelView = z.infer<typeof ChannelView>;

export const DELIVERY_STATES = ['pending', 'retrying', 'sent', 'failed'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

export const DeliveryView = z.object({
  id: z.string(),
  channelId: z.string(),
  alertId: z.string(),
  type: z.string(),
  state: z.enum(DELIVERY_STATES),
  attempts: z.number().int(),
  lastStatus: z.number().int().nullable().describe("the receiver's HTTP status (webhooks) or SMTP code"),
  lastError: z.string().nullable(),
  createdAt: z.string(),
  nextAttemptAt: z.string().nullable(),
  sentAt: z.string().nullable(),
});
export type DeliveryView = z.infer<typeof DeliveryView>;
