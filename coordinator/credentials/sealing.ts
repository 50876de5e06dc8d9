import type { SecretBox } from '../../shared/crypto.js';
import type { TransitionOptions } from './transitions.js';

/** Seal/open bound to a credential row: the row id and column are the associated data. */
export function rowSealer(box: SecretBox): Pick<TransitionOptions, 'seal' | 'open'> {
  return {
    seal: (plaintext, row, field) => box.seal(plaintext, row.id, field),
    open: (sealed, row, field) => box.open(sealed, row.id, field),
  };
}

/** Field name of a history entry: bound to its own id, so entries cannot be swapped. */
export const historyField = (historyId: string): string => `history:${historyId}`;
