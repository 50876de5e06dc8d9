import { randomUUID } from 'node:crypto';
import { hashToken, randomSecret } from '../../shared/crypto.js';
import { SyncError } from '../../shared/errors.js';
import type { Ctx } from '../context.js';
import { refreshSiteStatuses } from '../credentials/refresh.js';
import { auditOperator, type OperatorAct } from '../store/audit.js';
import {
  insertEnrollmentToken,
  revokeEnrollmentToken as revokeTokenRow,
  type EnrollmentTokenRow,
} from '../store/enrollment.js';
import { getSite, insertSite, updateSite, type SiteRow } from '../store/sites.js';

/*
 * What an admin can do to a site and its enrollment tokens, without HTTP (the delete:
 * delete-site-or-target.ts). Each write is one transaction, audited.
 */

/** The site `id`; 404 when there is none. */
export async function mustGetSite(ctx: Ctx, id: string): Promise<SiteRow> {
  const site = await getSite(ctx.db, id);
  if (!site) throw new SyncError('NOT_FOUND', `site ${id} not found`);
  return site;
}

/** A new site (409 when another has the name). */
export async function createSite(
  ctx: Ctx,
  input: { name: string; requireApproval: boolean },
  by: OperatorAct,
): Promise<SiteRow> {
  const id = randomUUID();
  return ctx.db.tx(async (q) => {
    const row = await insertSite(q, { id, ...input });
    if (!row) throw new SyncError('CONFLICT', `name: a site named '${input.name}' exists`);
    await auditOperator(q, by, 'site.create', 'site', id, { name: input.name });
    return row;
  });
}

/** Once a site was enabled or disabled: its credentials' statuses follow, and an enabled site's agents wake. */
async function afterEnabledChanged(ctx: Ctx, siteId: string, enabled: boolean): Promise<void> {
  await refreshSiteStatuses(ctx, siteId);
  if (enabled) ctx.wake.notify(siteId);
}

/** Enables or disables a site (its credentials show agent_disabled while disabled). */
export async function setSiteEnabled(
  ctx: Ctx,
  id: string,
  enabled: boolean,
  by: OperatorAct,
): Promise<SiteRow> {
  await mustGetSite(ctx, id);
  await ctx.db.tx(async (q) => {
    await updateSite(q, id, { enabled });
    await auditOperator(q, by, enabled ? 'site.enable' : 'site.disable', 'site', id);
  });
  await afterEnabledChanged(ctx, id, enabled);
  return mustGetSite(ctx, id);
}

/** Edits a site: rename (409 when taken), require approval of new agents, enable or disable. */
export async function editSite(
  ctx: Ctx,
  id: string,
  set: { name?: string | undefined; requireApproval?: boolean | undefined; enabled?: boolean | undefined },
  by: OperatorAct,
): Promise<SiteRow> {
  const { row, before } = await ctx.db.tx(async (q) => {
    const before = await getSite(q, id);
    if (!before) throw new SyncError('NOT_FOUND', `site ${id} not found`);
    const row = await updateSite(q, id, set);
    if (row === 'taken') throw new SyncError('CONFLICT', `name: a site named '${set.name}' exists`);
    if (!row) throw new SyncError('NOT_FOUND', `site ${id} not found`);
    await auditOperator(q, by, 'site.update', 'site', id, {
      ...(row.name !== before.name ? { name: { from: before.name, to: row.name } } : {}),
      ...(row.require_approval !== before.require_approval ? { requireApproval: row.require_approval } : {}),
      ...(row.enabled !== before.enabled ? { enabled: row.enabled } : {}),
    });
    return { row, before };
  });
  if (row.enabled !== before.enabled) await afterEnabledChanged(ctx, id, row.enabled);
  return row;
}

/** A one-time, expiring enrollment token for a new agent of the site; the token is shown once, stored hashed. */
export async function createEnrollmentToken(
  ctx: Ctx,
  siteId: string,
  input: { ttlSeconds?: number | undefined; uses: number },
  by: OperatorAct,
): Promise<{ id: string; token: string; expiresAt: Date }> {
  await mustGetSite(ctx, siteId);
  const token = `pwe_${randomSecret()}`;
  const id = randomUUID();
  const ttl = input.ttlSeconds ?? ctx.config.ENROLLMENT_TTL_S;
  const expiresAt = new Date(Date.now() + ttl * 1000);
  await ctx.db.tx(async (q) => {
    await insertEnrollmentToken(q, {
      id,
      siteId,
      tokenHash: hashToken(token),
      expiresAt,
      uses: input.uses,
      createdBy: by.operatorId,
    });
    await auditOperator(q, by, 'enrollment_token.create', 'site', siteId, {
      tokenId: id,
      expiresAt,
      uses: input.uses,
    });
  });
  return { id, token, expiresAt };
}

/** Revokes an enrollment token: it enrolls no agent any more (agents it enrolled stay). */
export async function revokeEnrollmentToken(
  ctx: Ctx,
  id: string,
  by: OperatorAct,
): Promise<EnrollmentTokenRow> {
  return ctx.db.tx(async (q) => {
    const row = await revokeTokenRow(q, id, by.operatorId);
    if (!row) throw new SyncError('NOT_FOUND', `enrollment token ${id} not found`);
    await auditOperator(q, by, 'enrollment_token.revoke', 'enrollment_token', row.id, {
      siteId: row.site_id,
    });
    return row;
  });
}
