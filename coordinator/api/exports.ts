/**
 * Exports of the lists (credentials, sync runs, a run's items, the audit log) and the compliance
 * report of a site (docs/api.md "Exports"): `GET <list>/export?format=csv|json&<the list's
 * filters>`, streamed page by page (http/export-stream.ts) so 100,000 rows never sit in memory.
 * The role of the list they export; each export is an audit event. Never a secret: the views are
 * the lists' own.
 */
import { z } from 'zod';
import {
  AuditExportQuery,
  ComplianceReportQuery,
  CredentialExportQuery,
  FormatQuery,
  SyncRunExportQuery,
  ComplianceReportView,
  type ComplianceItemView,
} from '../../shared/contracts/exports.js';
import {
  labelOf,
  REASON_LABELS,
  RUN_OUTCOME_LABELS,
  RUN_TRIGGER_LABELS,
} from '../../shared/contracts/labels.js';
import { STATUS_LABELS } from '../../shared/contracts/status.js';
import { AuditView, CredentialView, SyncRunItemView, SyncRunView } from '../../shared/contracts/api.js';
import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { revealsOf, siteCredentialsPage, type ComplianceRow } from '../exports/store.js';
import { runItems, runItemView } from '../groups/store.js';
import { audit } from '../http/actor.js';
import { EXPORT_PAGE, keysetPages, streamExport, type CsvColumn } from '../http/export-stream.js';
import { IdParams, type Routes } from '../http/routes.js';
import { listRuns, loadRun } from '../runs/store.js';
import { listAuditEvents } from '../store/audit.js';
import type { Queryable } from '../store/db.js';
import { lookupNames } from '../store/names.js';
import { getSite } from '../store/sites.js';
import { credentialsPage } from './credentials.js';
import { namedAuditViews, namedCredentialViews, namedRunViews, operatorName } from './named.js';

const CREDENTIAL_COLUMNS: CsvColumn<CredentialView>[] = [
  ['id', (c) => c.id],
  ['username', (c) => c.username],
  ['target_id', (c) => c.targetId],
  ['target_name', (c) => c.targetName],
  ['target_kind', (c) => c.targetKind],
  ['site_id', (c) => c.siteId],
  ['site_name', (c) => c.siteName],
  ['status', (c) => c.status],
  ['status_label', (c) => c.statusLabel],
  ['status_reason', (c) => c.statusReason],
  ['status_reason_label', (c) => labelOf(REASON_LABELS, c.statusReason)],
  ['last_error_code', (c) => c.lastErrorCode],
  ['last_message', (c) => c.lastMessage],
  ['sync_enabled', (c) => c.syncEnabled],
  ['suspended', (c) => c.suspended],
  ['policy_id', (c) => c.policyId],
  ['policy_name', (c) => c.policyName],
  ['group_id', (c) => c.groupId],
  ['group_name', (c) => c.groupName],
  ['last_verified_at', (c) => c.lastVerifiedAt],
  ['last_changed_at', (c) => c.lastChangedAt],
  ['last_result_at', (c) => c.lastResultAt],
  ['next_verify_at', (c) => c.nextVerifyAt],
  ['next_change_at', (c) => c.nextChangeAt],
  ['created_at', (c) => c.createdAt],
];

const RUN_COLUMNS: CsvColumn<SyncRunView>[] = [
  ['id', (r) => r.id],
  ['kind', (r) => r.kind],
  ['trigger', (r) => r.trigger],
  ['trigger_label', (r) => labelOf(RUN_TRIGGER_LABELS, r.trigger)],
  ['scope', (r) => r.scope],
  ['scope_name', (r) => r.scopeName ?? 'everything'],
  ['created_by', (r) => r.createdBy],
  ['created_by_name', (r) => r.createdByName],
  ['started_at', (r) => r.startedAt],
  ['finished_at', (r) => r.finishedAt],
  ['outcome', (r) => r.outcome],
  ['outcome_label', (r) => labelOf(RUN_OUTCOME_LABELS, r.finishedAt ? r.outcome : 'running')],
  ['impacted', (r) => r.counts.impacted],
  ['success', (r) => r.counts.success],
  ['partial', (r) => r.counts.partial],
  ['failed', (r) => r.counts.failed],
  ['unsynced', (r) => r.counts.unsynced],
  ['cancelled_at', (r) => r.cancelledAt],
  ['cancelled_by', (r) => r.cancelledBy],
];

const ITEM_COLUMNS: CsvColumn<SyncRunItemView>[] = [
  ['credential_id', (i) => i.credentialId],
  ['username', (i) => i.username],
  ['target_name', (i) => i.targetName],
  ['result', (i) => i.result],
  ['result_label', (i) => i.resultLabel],
  ['reason', (i) => i.reason],
  ['reason_label', (i) => i.reasonLabel],
  ['at', (i) => i.at],
];

const AUDIT_COLUMNS: CsvColumn<Awaited<ReturnType<typeof namedAuditViews>>[number]>[] = [
  ['id', (e) => e.id],
  ['at', (e) => e.at],
  ['actor_type', (e) => e.actorType],
  ['actor_id', (e) => e.actorId],
  ['actor_name', (e) => e.actorName],
  ['action', (e) => e.action],
  ['action_label', (e) => e.actionLabel],
  ['object_type', (e) => e.objectType],
  ['object_id', (e) => e.objectId],
  ['object_name', (e) => e.objectName],
  ['details', (e) => e.details],
  ['detail_names', (e) => e.detailNames],
];

const COMPLIANCE_COLUMNS: CsvColumn<ComplianceItemView>[] = [
  ['credential_id', (i) => i.credentialId],
  ['username', (i) => i.username],
  ['target_name', (i) => i.targetName],
  ['target_kind', (i) => i.targetKind],
  ['status', (i) => i.status],
  ['status_label', (i) => i.statusLabel],
  ['sync_enabled', (i) => i.syncEnabled],
  ['last_verified_at', (i) => i.lastVerifiedAt],
  ['last_changed_at', (i) => i.lastChangedAt],
  ['policy_name', (i) => i.policyName],
  ['reveal_count', (i) => i.reveals.length],
  ['revealed_by', (i) => i.reveals.map((r) => `${r.actorName ?? r.actorId} ${r.at}`).join('; ')],
];

/** The filters an export was asked with, for its audit event (never more than the query held). */
const filtersOf = (query: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(query).filter(([k, v]) => k !== 'format' && v !== undefined));

/** Default period of the compliance report: the last 30 days. */
const REPORT_DAYS = 30;

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** A page of the compliance report: the credentials with their reveals in the period, by whom. */
async function complianceItems(
  q: Queryable,
  rows: ComplianceRow[],
  period: { since: string; until: string },
): Promise<ComplianceItemView[]> {
  const reveals = await revealsOf(
    q,
    rows.map((r) => r.id),
    period.since,
    period.until,
  );
  const names = await lookupNames(q, { token: reveals.map((r) => r.actor_id) });
  const byCredential = new Map<string, ComplianceItemView['reveals']>();
  for (const r of reveals) {
    const list = byCredential.get(r.object_id) ?? [];
    list.push({
      at: r.at.toISOString(),
      actorId: r.actor_id,
      actorName: operatorName(names.token, r.actor_id),
      action: r.action,
    });
    byCredential.set(r.object_id, list);
  }
  return rows.map((r) => ({
    credentialId: r.id,
    username: r.username,
    targetId: r.target_id,
    targetName: r.target_name,
    targetKind: r.target_kind,
    status: r.status,
    statusLabel: STATUS_LABELS[r.status],
    syncEnabled: r.sync_enabled,
    lastVerifiedAt: iso(r.last_verified_at),
    lastChangedAt: iso(r.last_changed_at),
    policyId: r.policy_id,
    policyName: r.policy_name,
    reveals: byCredential.get(r.id) ?? [],
  }));
}

export function registerExportRoutes(ctx: Ctx, routes: Routes): void {
  routes.add({
    method: 'GET',
    url: '/api/v1/credentials/export',
    summary:
      'Export the filtered credential list (the filters and sort of GET /credentials) as CSV or JSON, streamed; never a secret (audited)',
    tag: 'credentials',
    auth: 'viewer',
    query: CredentialExportQuery,
    response: { status: 200, csv: true, schema: z.array(CredentialView) },
    handler: async ({ query }, req, reply) => {
      const { format, ...filters } = query;
      await audit(ctx.db, req, 'credential.export', 'credential', null, { format, ...filtersOf(filters) });
      return streamExport(reply, {
        format,
        filename: 'credentials',
        columns: CREDENTIAL_COLUMNS,
        async *pages() {
          let cursor: string | undefined;
          do {
            const page = await credentialsPage(ctx, { ...filters, limit: EXPORT_PAGE, cursor });
            yield await namedCredentialViews(ctx.db, page.rows);
            cursor = page.nextCursor ?? undefined;
          } while (cursor);
        },
      });
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/sync-runs/export',
    summary:
      'Export the filtered sync history (the filters of GET /sync-runs) as CSV or JSON, streamed (audited)',
    tag: 'sync-runs',
    auth: 'viewer',
    query: SyncRunExportQuery,
    response: { status: 200, csv: true, schema: z.array(SyncRunView) },
    handler: async ({ query }, req, reply) => {
      const { format, ...filters } = query;
      await audit(ctx.db, req, 'sync_run.export', 'sync_run', null, { format, ...filtersOf(filters) });
      return streamExport(reply, {
        format,
        filename: 'sync-runs',
        columns: RUN_COLUMNS,
        pages: () =>
          keysetPages(
            (after: [string, string] | null) =>
              listRuns(ctx.db, {
                outcome: filters.outcome,
                siteId: filters.siteId,
                since: filters.since,
                after,
                limit: EXPORT_PAGE,
              }),
            (last): [string, string] => [last.sort_key, last.id],
            (rows) => namedRunViews(ctx.db, rows),
          ),
      });
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/sync-runs/:id/items/export',
    summary: "Export a sync run's per-credential results as CSV or JSON, streamed (audited)",
    tag: 'sync-runs',
    auth: 'viewer',
    params: IdParams,
    query: FormatQuery,
    response: { status: 200, csv: true, schema: z.array(SyncRunItemView) },
    handler: async ({ params, query }, req, reply) => {
      if (!(await loadRun(ctx.db, params.id)))
        throw new SyncError('NOT_FOUND', `sync run ${params.id} not found`);
      await audit(ctx.db, req, 'sync_run.export_items', 'sync_run', params.id, { format: query.format });
      return streamExport(reply, {
        format: query.format,
        filename: `sync-run-${params.id}-items`,
        columns: ITEM_COLUMNS,
        pages: () =>
          keysetPages(
            (after: number | null) => runItems(ctx.db, params.id, { after, limit: EXPORT_PAGE }),
            (last) => Number(last.id),
            (rows) => rows.map(runItemView),
          ),
      });
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/audit/export',
    summary: 'Export the filtered audit log (the filters of GET /audit) as CSV or JSON, streamed (audited)',
    tag: 'audit',
    auth: 'viewer',
    query: AuditExportQuery,
    response: { status: 200, csv: true, schema: z.array(AuditView) },
    handler: async ({ query }, req, reply) => {
      const { format, ...filters } = query;
      // Recorded first, so the export holds its own event (the newest).
      await audit(ctx.db, req, 'audit.export', 'audit', null, { format, ...filtersOf(filters) });
      return streamExport(reply, {
        format,
        filename: 'audit',
        columns: AUDIT_COLUMNS,
        pages: () =>
          keysetPages(
            (before: number | null) => listAuditEvents(ctx.db, { ...filters, before, limit: EXPORT_PAGE }),
            (last) => Number(last.id),
            (rows) => namedAuditViews(ctx.db, rows),
          ),
      });
    },
  });

  routes.add({
    method: 'GET',
    url: '/api/v1/sites/:id/compliance-report',
    summary:
      "A site's compliance report: every credential with its status, last verified, last changed, policy, and who revealed its password in the period (default the last 30 days); JSON or CSV, streamed (audited)",
    tag: 'sites',
    auth: 'viewer',
    params: IdParams,
    query: ComplianceReportQuery,
    response: { status: 200, csv: true, schema: ComplianceReportView },
    handler: async ({ params, query }, req, reply) => {
      const site = await getSite(ctx.db, params.id);
      if (!site) throw new SyncError('NOT_FOUND', `site ${params.id} not found`);
      const until = query.until ? new Date(query.until) : new Date();
      const since = query.since
        ? new Date(query.since)
        : new Date(until.getTime() - REPORT_DAYS * 86_400_000);
      if (since > until)
        throw new SyncError('VALIDATION_FAILED', 'query.since: must not be after until', {
          issues: [{ field: 'query.since', message: 'must not be after until' }],
        });
      const period = { since: since.toISOString(), until: until.toISOString() };
      await audit(ctx.db, req, 'site.compliance_report', 'site', site.id, {
        format: query.format,
        ...period,
      });
      return streamExport<ComplianceItemView>(reply, {
        format: query.format,
        filename: `compliance-${site.name.replace(/[^A-Za-z0-9._-]+/g, '_')}`,
        columns: COMPLIANCE_COLUMNS,
        wrap: { site: { id: site.id, name: site.name }, ...period, generatedAt: new Date().toISOString() },
        pages: () =>
          keysetPages(
            (after: string | null) => siteCredentialsPage(ctx.db, site.id, after, EXPORT_PAGE),
            (last) => last.id,
            (rows) => complianceItems(ctx.db, rows, period),
          ),
      });
    },
  });
}
