import { z } from 'zod';
import { CredentialFilterFields } from './api.js';
import { StatusSchema } from './status.js';

/** Most credentials one POST /api/v1/credentials/bulk acts on (by ids, or matched by a filter). */
export const MAX_BULK_ITEMS = 1000;

export const BULK_ACTIONS = ['verify', 'change', 'enable', 'disable', 'delete'] as const;
export type BulkAction = (typeof BULK_ACTIONS)[number];

/**
 * A bulk action on credentials chosen by `ids` or by a `filter` (the list's filters; at least one):
 * `verify` (Sync now), `change` (a new password generated from each one's policy), `enable` and
 * `disable` sync, `delete` (`force` deletes one with a change in flight).
 */
export const BulkCredentialsBody = z
  .strictObject({
    action: z.enum(BULK_ACTIONS),
    ids: z.array(z.uuid()).min(1).max(MAX_BULK_ITEMS).optional(),
    filter: z.strictObject(CredentialFilterFields).optional(),
    force: z.boolean().default(false),
  })
  .superRefine((b, ctx) => {
    if ((b.ids === undefined) === (b.filter === undefined))
      ctx.addIssue({ code: 'custom', path: ['ids'], message: 'give either ids or filter' });
    else if (b.filter !== undefined && Object.values(b.filter).every((v) => v === undefined))
      ctx.addIssue({
        code: 'custom',
        path: ['filter'],
        message: 'a filter needs at least one field (all credentials at once is not a bulk action)',
      });
    if (b.force && b.action !== 'delete')
      ctx.addIssue({ code: 'custom', path: ['force'], message: 'force is for delete only' });
  });
export type BulkCredentialsBody = z.infer<typeof BulkCredentialsBody>;

/** What became of one credential: `ok` (with its status after, unless deleted) or `failed` (why). */
export const BulkItemResultView = z.discriminatedUnion('result', [
  z.object({ id: z.uuid(), result: z.literal('ok'), status: StatusSchema.nullable() }),
  z.object({ id: z.uuid(), result: z.literal('failed'), code: z.string(), message: z.string() }),
]);
export type BulkItemResultView = z.infer<typeof BulkItemResultView>;

export const BulkCredentialsView = z.object({
  /** Names the action's audit event (`credential.bulk`, object `credential_bulk`). */
  bulkId: z.uuid(),
  action: z.enum(BULK_ACTIONS),
  counts: z.object({ ok: z.number().int(), failed: z.number().int() }),
  /** One per credential, in the order of `ids` (by filter: in id order). */
  results: z.array(BulkItemResultView),
});
export type BulkCredentialsView = z.infer<typeof BulkCredentialsView>;
