import { z } from 'zod';
import { CreateCredentialBody } from './api.js';
import { StatusSchema } from './status.js';

/** Most items of one POST /api/v1/credentials/batch. */
export const MAX_BATCH_ITEMS = 10_000;

/**
 * The route's own body limit: 10,000 items of the largest size a client sends in practice (a
 * 256-character username and a 1,024-character password, each character up to 3 bytes of UTF-8,
 * plus the ids and keys) fit with room to spare.
 */
export const BATCH_BODY_LIMIT_BYTES = 48 * 1024 * 1024;

export const CreateCredentialsBatchBody = z.strictObject({
  items: z.array(CreateCredentialBody).min(1).max(MAX_BATCH_ITEMS),
});

const Issue = z.object({ field: z.string(), message: z.string() });

/** What became of one item, at its place (`index`) in the request's `items`. */
export const BatchItemResultView = z.discriminatedUnion('result', [
  z.object({ index: z.number().int(), result: z.literal('created'), id: z.uuid(), status: StatusSchema }),
  z.object({ index: z.number().int(), result: z.literal('exists'), id: z.uuid() }),
  z.object({ index: z.number().int(), result: z.literal('invalid'), issues: z.array(Issue) }),
]);
export type BatchItemResultView = z.infer<typeof BatchItemResultView>;

export const CreateCredentialsBatchView = z.object({
  /** Names the batch's audit event (`credential.create_batch`, object `credential_batch`). */
  batchId: z.uuid(),
  counts: z.object({ created: z.number().int(), exists: z.number().int(), invalid: z.number().int() }),
  /** One per item, in the order of the request. */
  results: z.array(BatchItemResultView),
});
export type CreateCredentialsBatchView = z.infer<typeof CreateCredentialsBatchView>;
