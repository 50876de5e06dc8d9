/**
 * Writes coordinator/dashboard/client/vocabulary.ts (git-ignored) from shared/: the statuses, their
 * labels and display order, the reasons, the detail codes, the agent version statuses, the agent
 * view, the notification channels' vocabulary (webhook formats, SMTP security, delivery states, the
 * channel and delivery views), the dependency kinds, statuses and view, and the target forms. The
 * dashboard client is compiled on its own for the browser and cannot import shared/ (it needs zod);
 * this keeps it from holding copies that drift. Run by `npm run build:dashboard` and
 * `npm run typecheck` (`npm run vocabulary`); tests/unit/dashboard-vocabulary.test.ts checks the client
 * declares none of its own.
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { VERSION_STATUSES } from '../../shared/agent-versions.js';
import {
  ChannelView,
  DELIVERY_STATES,
  DeliveryView,
  SMTP_SECURITIES,
  WEBHOOK_FORMATS,
} from '../../shared/contracts/alerts.js';
import { AgentView, RunOutcome } from '../../shared/contracts/api.js';
import {
  DEPENDENCY_KINDS,
  DEPENDENCY_STATUSES,
  DependencyView,
} from '../../shared/contracts/dependencies.js';
import {
  DETAIL_CODES,
  DISPLAY_ORDER,
  REASONS,
  STATUS_LABELS,
  STATUSES,
} from '../../shared/contracts/status.js';
import {
  ACTOR_TYPE_LABELS,
  ALERT_TYPE_LABELS,
  CHANNEL_KIND_LABELS,
  DELIVERY_STATE_LABELS,
  DEPENDENCY_KIND_LABELS,
  DEPENDENCY_STATUS_LABELS,
  ENROLLMENT_TOKEN_STATE_LABELS,
  JOB_KIND_LABELS,
  JOB_STATE_LABELS,
  AUDIT_ACTION_LABELS,
  OBJECT_TYPE_LABELS,
  REASON_LABELS,
  RUN_ITEM_REASON_LABELS,
  RUN_OUTCOME_LABELS,
  RUN_RESULT_LABELS,
  RUN_TRIGGER_LABELS,
} from '../../shared/contracts/labels.js';
import { targetForms } from './target-forms.js';

export const VOCABULARY_FILE = fileURLToPath(new URL('./client/vocabulary.ts', import.meta.url));

type JsonSchema = {
  type?: string | string[];
  enum?: unknown[];
  anyOf?: JsonSchema[];
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  description?: string;
};

/** A TypeScript type for the JSON schema of a view (the shapes the API's views use). */
function tsType(s: JsonSchema, indent = ''): string {
  if (s.anyOf) return s.anyOf.map((x) => tsType(x, indent)).join(' | ');
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (Array.isArray(s.type)) return s.type.map((type) => tsType({ ...s, type }, indent)).join(' | ');
  switch (s.type) {
    case 'string':
      return 'string';
    case 'number':
    case 'integer':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'array':
      return `${s.items ? wrap(tsType(s.items, indent)) : 'unknown'}[]`;
    case 'object': {
      const required = new Set(s.required ?? []);
      const fields = Object.entries(s.properties ?? {}).map(
        ([key, value]) =>
          `${value.description ? `${indent}  /** ${value.description} */\n` : ''}${indent}  ${key}${required.has(key) ? '' : '?'}: ${tsType(value, `${indent}  `)};`,
      );
      return `{\n${fields.join('\n')}\n${indent}}`;
    }
    default:
      return 'unknown';
  }
}
const wrap = (t: string) => (t.includes('|') ? `(${t})` : t);

const list = (name: string, type: string, values: readonly string[]) =>
  `export const ${name} = ${JSON.stringify(values)} as const;\nexport type ${type} = (typeof ${name})[number];\n`;

const labels = (name: string, table: Record<string, string>) =>
  `export const ${name}: Readonly<Record<string, string>> = ${JSON.stringify(table)};\n`;

export function vocabulary(): string {
  const agent = z.toJSONSchema(AgentView, { io: 'output' }) as JsonSchema;
  const channel = z.toJSONSchema(ChannelView, { io: 'output' }) as JsonSchema;
  const delivery = z.toJSONSchema(DeliveryView, { io: 'output' }) as JsonSchema;
  const dependency = z.toJSONSchema(DependencyView, { io: 'output' }) as JsonSchema;
  return [
    '// Generated from shared/ by coordinator/dashboard/generate-vocabulary.ts (npm run vocabulary): do not edit.',
    '',
    list('STATUSES', 'Status', STATUSES),
    `export const STATUS_LABELS: Record<Status, string> = ${JSON.stringify(STATUS_LABELS)};\n`,
    `/** Display order on the overview: healthy first, then work in progress, then what needs a person. */`,
    `export const DISPLAY_ORDER: readonly Status[] = ${JSON.stringify(DISPLAY_ORDER)};\n`,
    list('REASONS', 'Reason', REASONS),
    list('DETAIL_CODES', 'DetailCode', DETAIL_CODES),
    list('VERSION_STATUSES', 'VersionStatus', VERSION_STATUSES),
    list('RUN_OUTCOMES', 'RunOutcome', RunOutcome.options),
    '// Codes in words (shared/contracts/labels.ts): the same table the API and the exports use.',
    `export const REASON_LABELS: Record<Reason, string> = ${JSON.stringify(REASON_LABELS)};\n`,
    labels('RUN_RESULT_LABELS', RUN_RESULT_LABELS),
    labels('RUN_OUTCOME_LABELS', RUN_OUTCOME_LABELS),
    labels('RUN_TRIGGER_LABELS', RUN_TRIGGER_LABELS),
    labels('RUN_ITEM_REASON_LABELS', RUN_ITEM_REASON_LABELS),
    labels('ACTOR_TYPE_LABELS', ACTOR_TYPE_LABELS),
    labels('AUDIT_ACTION_LABELS', AUDIT_ACTION_LABELS),
    labels('OBJECT_TYPE_LABELS', OBJECT_TYPE_LABELS),
    labels('DEPENDENCY_KIND_LABELS', DEPENDENCY_KIND_LABELS),
    labels('JOB_STATE_LABELS', JOB_STATE_LABELS),
    labels('JOB_KIND_LABELS', JOB_KIND_LABELS),
    labels('ENROLLMENT_TOKEN_STATE_LABELS', ENROLLMENT_TOKEN_STATE_LABELS),
    labels('CHANNEL_KIND_LABELS', CHANNEL_KIND_LABELS),
    labels('DELIVERY_STATE_LABELS', DELIVERY_STATE_LABELS),
    labels('ALERT_TYPE_LABELS', ALERT_TYPE_LABELS),
    `/** A code's words from one of the tables above, or the code itself when the table lacks it. */`,
    `export const labelOf = (table: Readonly<Record<string, string>>, code: string): string => table[code] ?? code;\n`,
    `/** An agent as GET /agents answers it. */\nexport interface Agent ${tsType(agent)}\n`,
    list('WEBHOOK_FORMATS', 'WebhookFormat', WEBHOOK_FORMATS),
    list('SMTP_SECURITIES', 'SmtpSecurity', SMTP_SECURITIES),
    list('DELIVERY_STATES', 'DeliveryState', DELIVERY_STATES),
    `/** A notification channel as GET /notification-channels answers it. */\nexport interface Channel ${tsType(channel)}\n`,
    `/** A delivery as GET /notification-channels/{id}/deliveries answers it. */\nexport interface Delivery ${tsType(delivery)}\n`,
    `/** The target form of each kind, from its connection schema (target-forms.ts). */\nexport const TARGET_FORMS: Record<string, { by?: { field: string; value: string }; fields: { name: string; type: 'text' | 'integer' | 'number' | 'boolean' | 'choice' | 'json'; required: boolean; default?: unknown; options?: string[] }[] }[]> = ${JSON.stringify(targetForms())};\n`,
    list('DEPENDENCY_KINDS', 'DependencyKind', DEPENDENCY_KINDS),
    list('DEPENDENCY_STATUSES', 'DependencyStatus', DEPENDENCY_STATUSES),
    `export const DEPENDENCY_STATUS_LABELS: Record<DependencyStatus, string> = ${JSON.stringify(DEPENDENCY_STATUS_LABELS)};\n`,
    `/** A credential's dependency as GET /credentials/{id} answers it (docs/adapters/dependencies.md). */\nexport interface Dependency ${tsType(dependency)}\n`,
  ].join('\n');
}

/**
 * What `syncctl import` reads a CSV with (dependency-free modules of cli/), copied for the dashboard's
 * Import CSV as client/<copy> (git-ignored): one reading of the file, not two.
 */
export const COPIED_FROM_CLI = [
  { from: 'csv.ts', copy: 'csv.ts' },
  { from: 'names.ts', copy: 'import-names.ts' },
];

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(VOCABULARY_FILE, vocabulary());
  for (const { from, copy } of COPIED_FROM_CLI)
    copyFileSync(new URL(`../../cli/${from}`, import.meta.url), new URL(`./client/${copy}`, import.meta.url));
}
