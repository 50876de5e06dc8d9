/**
 * Bodies of the administration routes that edit and delete (sites, agents, policies, sync groups;
 * coordinator/api/*-edit.ts), shared by the coordinator, the dashboard and the tests.
 */
import { z } from 'zod';

const name = z.string().trim().min(1).max(200);

/** Only the fields given change. */
export const PatchSiteBody = z.strictObject({
  name: name.optional(),
  requireApproval: z.boolean().optional(),
  enabled: z.boolean().optional(),
});

export const PatchAgentBody = z.strictObject({ name });

/**
 * Only the fields given change. `memberCredentialIds` is the whole new list of members (the primary
 * may be listed too); members left out leave the group and rotate on their own again. `policyId:
 * null` makes the group use its primary's policy.
 */
export const PatchSyncGroupBody = z.strictObject({
  name: name.optional(),
  policyId: z.uuid().nullable().optional(),
  primaryCredentialId: z.uuid().optional(),
  memberCredentialIds: z.array(z.uuid()).max(1000).optional(),
});

/** What a delete answers: for a forced delete of a site or a target, how many credentials went with it. */
export const DeletedView = z.object({
  id: z.uuid(),
  deleted: z.literal(true),
  credentials: z.number().optional(),
});
