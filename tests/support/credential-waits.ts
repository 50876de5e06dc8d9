import type { CredentialView } from '../../shared/contracts/api.js';
import { expectStatus, getCredential, waitForValue } from './fixtures.js';
import type { ApiClient } from './http.js';

/** The credential once `check` holds (polled every 200 ms, up to a minute). */
export const credentialWhere = (
  admin: ApiClient,
  id: string,
  check: (c: CredentialView) => boolean,
  message: string,
): Promise<CredentialView> =>
  waitForValue(
    async () => {
      const c = await getCredential(admin, id);
      return check(c) ? c : false;
    },
    { timeoutMs: 60_000, intervalMs: 200, message },
  );

/** The stored password (admin, audited). */
export const revealed = async (admin: ApiClient, id: string): Promise<string> =>
  (await expectStatus<{ password: string }>(admin.get(`/credentials/${id}/password`), 200, 'reveal'))
    .password;

/**
 * Requests a change with a generated password through the API and waits for it to settle: the
 * credential in its state after the change (in_sync when it worked) and the password then stored.
 */
export async function changeThroughApi(
  admin: ApiClient,
  id: string,
): Promise<{ credential: CredentialView; password: string }> {
  const last = (await getCredential(admin, id)).lastChangedAt;
  await expectStatus(admin.post(`/credentials/${id}/change`, {}), 202, 'POST change');
  const credential = await credentialWhere(
    admin,
    id,
    (c) => c.lastChangedAt !== last && !c.changePending && c.job.state === 'idle',
    'the change to finish',
  );
  return { credential, password: await revealed(admin, id) };
}
