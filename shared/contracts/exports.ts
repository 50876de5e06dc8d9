/**
 * Exports (docs/api.md "Exports"): every list's filters, without paging, and `format`: the whole
 * filtered list, streamed as it is read (keyset pages), as CSV or JSON.
 */
import { z } from 'zod';
import { AuditQuery, CredentialListQuery, queryTime, SyncRunListQuery } from './api.js';
import { StatusSchema } from './status.js';

/** `json` (the default): an array of the list's views; `csv`: one row per item, with a header row. */
export const ExportFormat = z.enum(['json', 'csv']).default('json');
const format = { format: ExportFormat };

export const CredentialExportQuery = CredentialListQuery.omit({ limit: true, cursor: true }).extend(format);
export const SyncRunExportQuery = SyncRunListQuery.omit({ limit: true, cursor: true }).extend(format);
export const AuditExportQuery = AuditQuery.omit({ limit: true, cursor: true }).extend(format);
export const FormatQuery = z.strictObject(format);

/** GET /sites/{id}/compliance-report: a period (default: the last 30 days up to now) and a format. */
export const ComplianceReportQuery = z.strictObject({
  since: queryTime.optional(),
  until: queryTime.optional(),
  ...format,
});

/** A reveal of a credential's password (or its earlier passwords) in the report's period. */
export const RevealView = z.object({
  at: z.string(),
  actorId: z.string(),
  /** The API token's name, null when it has none (the bootstrap admin) or is gone. */
  actorName: z.string().nullable(),
  /** `credential.reveal` or `credential.reveal_history`. */
  action: z.string(),
});

/** One credential of the compliance report. */
export const ComplianceItemView = z.object({
  credentialId: z.uuid(),
  username: z.string(),
  targetId: z.uuid(),
  targetName: z.string(),
  targetKind: z.string(),
  status: StatusSchema,
  statusLabel: z.string(),
  syncEnabled: z.boolean(),
  lastVerifiedAt: z.string().nullable(),
  lastChangedAt: z.string().nullable(),
  policyId: z.uuid().nullable(),
  policyName: z.string().nullable(),
  reveals: z.array(RevealView),
});
export type ComplianceItemView = z.infer<typeof ComplianceItemView>;

/** The report (format json): the site, the period, when it was made, and every credential of the site. */
export const ComplianceReportView = z.object({
  site: z.object({ id: z.uuid(), name: z.string() }),
  since: z.string(),
  until: z.string(),
  generatedAt: z.string(),
  items: z.array(ComplianceItemView),
});
