import type {
  BatchItemResultView,
  CreateCredentialsBatchView,
} from '../shared/contracts/credentials-batch.js';
import { MAX_BATCH_ITEMS } from '../shared/contracts/credentials-batch.js';
import { WHOLE_NUMBER } from '../shared/contracts/whole-number.js';
import type { ApiClient } from './client.js';

/** Items per POST /credentials/batch unless --batch-size says otherwise. */
export const DEFAULT_BATCH_SIZE = 1000;
/** Requests in flight at once: the coordinator writes one while it reads and seals the next. */
const PARALLEL = 2;

/** `--batch-size`: 1 to the API's maximum. */
export function parseBatchSize(value: string | undefined): number {
  if (value === undefined) return DEFAULT_BATCH_SIZE;
  const n = WHOLE_NUMBER.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= MAX_BATCH_ITEMS)) {
    throw new Error(`--batch-size: a whole number from 1 to ${MAX_BATCH_ITEMS}`);
  }
  return n;
}

/**
 * Sends `items` to POST /api/v1/credentials/batch, `batchSize` to a request, `PARALLEL` requests at a
 * time; `onBatch` gets the first item's place and the batch's results (one per item, in order) as
 * each answer comes. A request the API refuses as a whole (the token, the server) throws: nothing
 * of it was created, and a rerun sends it again (the API is idempotent on target + username).
 */
export async function postInBatches(
  api: ApiClient,
  items: Record<string, unknown>[],
  batchSize: number,
  onBatch: (from: number, results: BatchItemResultView[]) => void,
): Promise<void> {
  let next = 0;
  const sender = async () => {
    while (next < items.length) {
      const from = next;
      next += batchSize;
      const answer = await api.call<CreateCredentialsBatchView>('POST', '/api/v1/credentials/batch', {
        items: items.slice(from, from + batchSize),
      });
      onBatch(from, answer.results);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, Math.ceil(items.length / batchSize)) }, sender));
}

/** Why the API found an item invalid, its fields named as in the CSV's columns' terms (`username: …`). */
export function invalidReason(result: Extract<BatchItemResultView, { result: 'invalid' }>): string {
  return result.issues
    .map((i) => {
      const field = i.field.replace(/^body\.items\.\d+\.?/, '');
      return field ? `${field}: ${i.message}` : i.message;
    })
    .join('; ');
}
