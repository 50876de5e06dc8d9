import type { SecretBox } from '../../shared/crypto.js';
import { CHANNEL_SECRET_FIELD } from '../alerts/deliver.js';
import { channelSecretsPage, insertEvent, setChannelSecret } from '../alerts/store.js';
import { GROUP_SECRET_FIELD, groupSecretsPage, setGroupSecret } from '../groups/store.js';
import {
  credentialSecretsPage,
  historySecretsPage,
  setCredentialSecrets,
  setHistorySecret,
} from '../credentials/sealed-secrets.js';
import { historyField } from '../credentials/sealing.js';
import type { Db } from '../store/db.js';

const PAGE = 500;

export interface RotationProgress {
  table: 'credentials' | 'secret_history' | 'sync_groups' | 'notification_channels';
  done: number;
  rewrapped: number;
}

/**
 * Re-wraps every data key (current, pending and history secrets, a group change's shared password,
 * notification channels' secrets) under the current master key, then records the
 * `system.master_key_rotated` event (docs/alerts.md). The
 * secrets themselves are not re-encrypted. Safe while coordinators run: they are configured with
 * the new key and the old one in COORDINATOR_PREVIOUS_MASTER_KEYS, so they open either; each page
 * is re-wrapped in its own short transaction with its rows locked. Idempotent: run it again after
 * an interruption. Once it reports zero left, the old key can leave the configuration.
 */
export async function rotateMasterKey(
  db: Db,
  box: SecretBox,
  onProgress: (p: RotationProgress) => void = () => undefined,
): Promise<{ credentials: number; history: number; groups: number; channels: number }> {
  const credentials = await rewrapTable(db, 'credentials', onProgress, async (q, after) => {
    const rows = await credentialSecretsPage(q, after, PAGE);
    let rewrapped = 0;
    for (const r of rows) {
      const secret = box.rewrap(r.secret, r.id, 'secret');
      const pending = r.pending_secret === null ? null : box.rewrap(r.pending_secret, r.id, 'pending_secret');
      if (secret === r.secret && pending === r.pending_secret) continue;
      await setCredentialSecrets(q, r.id, secret, pending);
      rewrapped += 1;
    }
    return { ids: rows.map((r) => r.id), rewrapped };
  });
  const history = await rewrapTable(db, 'secret_history', onProgress, async (q, after) => {
    const rows = await historySecretsPage(q, after, PAGE);
    let rewrapped = 0;
    for (const r of rows) {
      const secret = box.rewrap(r.secret, r.credential_id, historyField(r.id));
      if (secret === r.secret) continue;
      await setHistorySecret(q, r.id, secret);
      rewrapped += 1;
    }
    return { ids: rows.map((r) => r.id), rewrapped };
  });
  const groups = await rewrapTable(db, 'sync_groups', onProgress, async (q, after) => {
    const rows = await groupSecretsPage(q, after, PAGE);
    let rewrapped = 0;
    for (const r of rows) {
      if (r.change_secret === null) continue;
      const secret = box.rewrap(r.change_secret, r.id, GROUP_SECRET_FIELD);
      if (secret === r.change_secret) continue;
      await setGroupSecret(q, r.id, secret);
      rewrapped += 1;
    }
    return { ids: rows.map((r) => r.id), rewrapped };
  });
  const channels = await rewrapTable(db, 'notification_channels', onProgress, async (q, after) => {
    const rows = await channelSecretsPage(q, after, PAGE);
    let rewrapped = 0;
    for (const r of rows) {
      if (r.secret === null) continue;
      const secret = box.rewrap(r.secret, r.id, CHANNEL_SECRET_FIELD);
      if (secret === r.secret) continue;
      await setChannelSecret(q, r.id, secret);
      rewrapped += 1;
    }
    return { ids: rows.map((r) => r.id), rewrapped };
  });
  const counts = { credentials, history, groups, channels };
  await db.tx((q) =>
    insertEvent(q, { type: 'system.master_key_rotated', subjectType: 'system', data: counts }),
  );
  return counts;
}

async function rewrapTable(
  db: Db,
  table: RotationProgress['table'],
  onProgress: (p: RotationProgress) => void,
  page: (
    q: Parameters<Parameters<Db['tx']>[0]>[0],
    after: string,
  ) => Promise<{ ids: string[]; rewrapped: number }>,
): Promise<number> {
  let after = '00000000-0000-0000-0000-000000000000';
  let done = 0;
  let rewrapped = 0;
  for (;;) {
    const r = await db.tx((q) => page(q, after));
    done += r.ids.length;
    rewrapped += r.rewrapped;
    onProgress({ table, done, rewrapped });
    if (r.ids.length < PAGE) return rewrapped;
    after = r.ids.at(-1)!;
  }
}
