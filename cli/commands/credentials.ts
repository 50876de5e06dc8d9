import { readText } from '../input.js';
import type { CredentialView } from '../../shared/contracts/api.js';
import type { BulkAction, BulkCredentialsView } from '../../shared/contracts/credentials-bulk.js';
import type { ApiClient } from '../client.js';
import { table } from '../format.js';
import { resolveFilterNames } from './filter-names.js';
import {
  apiPath,
  fields,
  intFlag,
  need,
  needId,
  passwordFrom,
  query,
  str,
  type Command,
  type Flags,
} from './command.js';

/**
 * The list's filters (`credentials list`, `credentials bulk`), as the API's query names them; --site,
 * --target and --group take a name or an id (filter-names.ts).
 */
const FILTER_OPTIONS =
  '[--status S] [--reason R] [--site NAME|ID] [--target NAME|ID] [--group NAME|ID] [--search TEXT] [--suspended] ' +
  '[--job-state idle|queued|active]';
const rawFilterOf = (flags: Flags): Record<string, string | undefined> => ({
  status: str(flags.status),
  reason: str(flags.reason),
  siteId: str(flags.site),
  targetId: str(flags.target),
  groupId: str(flags.group),
  q: str(flags.search),
  suspended: flags.suspended ? 'true' : undefined,
  jobState: str(flags['job-state']),
});
/** The filters with names turned into ids (through the API). */
const filterOf = async (api: ApiClient, flags: Flags): Promise<Record<string, string | undefined>> => ({
  ...rawFilterOf(flags),
  ...(await resolveFilterNames(api, flags)),
});

/** `credentials bulk ACTION`: its words, as POST /credentials/bulk names the actions. */
const BULK_ACTIONS: Record<string, BulkAction> = {
  'sync-now': 'verify',
  change: 'change',
  enable: 'enable',
  disable: 'disable',
  delete: 'delete',
};

/**
 * The request of `credentials bulk`: the credentials by --ids (or --ids-stdin, one a line) or by the
 * list's filters, one way only (a filter with nothing in it is refused by the API).
 */
async function bulkBody(api: ApiClient, action: string | undefined, flags: Flags) {
  const verb = BULK_ACTIONS[need(action, 'ACTION')];
  if (!verb) throw new Error(`unknown action '${action}': sync-now, change, enable, disable or delete`);
  const listed = flags['ids-stdin'] ? readText(0, '--ids-stdin') : str(flags.ids);
  const ids = listed
    ?.split(/[\s,]+/)
    .map((id) => id.trim())
    .filter(Boolean);
  const given = (f: Record<string, string | undefined>) =>
    Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined));
  const filtered = Object.keys(given(rawFilterOf(flags))).length > 0;
  if (ids !== undefined && filtered) throw new Error('give --ids (or --ids-stdin) or filters, not both');
  if (ids === undefined && !filtered)
    throw new Error('missing --ids, --ids-stdin or a filter (see syncctl --help)');
  if (ids?.length === 0) throw new Error('no ids given');
  const filter = ids ? {} : given(await filterOf(api, flags));
  return { action: verb, ...(ids ? { ids } : { filter }), ...(flags.force ? { force: true } : {}) };
}

/** `credentials enable ID`, `disable`, `resume`: the credential's new state in one line. */
const switchSync = (action: 'enable' | 'disable' | 'resume', summary: string): Command => ({
  name: `credentials ${action}`,
  arguments: 'ID',
  summary,
  async handler({ api, args: [id], out }) {
    const r = await api.call<CredentialView>('POST', apiPath(`/credentials/${needId(id)}/${action}`), {});
    const did = action === 'resume' ? 'resumed' : `sync ${action}d`;
    out(r, () => `credential ${id}: ${did} (${r.statusLabel}${r.suspended ? ', suspended' : ''})`);
    return 0;
  },
});

/** `credentials verify ID` (Sync now) and `credentials change ID` (Change now). */
const request = (action: 'verify' | 'change', options: string | undefined, summary: string): Command => ({
  name: `credentials ${action}`,
  arguments: 'ID',
  ...(options ? { options } : {}),
  summary,
  async handler({ api, args: [id], flags, out }) {
    const password = action === 'change' ? passwordFrom(flags, true) : undefined;
    const r = await api.call<{ status: string }>(
      'POST',
      apiPath(`/credentials/${needId(id)}/${action}`),
      password ? { password } : {},
    );
    out(r, () => `credential ${id}: ${action} requested (${r.status})`);
    return 0;
  },
});

export const credentialCommands: Command[] = [
  {
    name: 'credentials list',
    options: `${FILTER_OPTIONS} [--sort KEY|-KEY] [--limit N] [--cursor C] [--all]`,
    summary: 'credentials, filtered and sorted',
    handler: async ({ api, flags, list }) =>
      list<CredentialView>(
        '/credentials',
        { ...(await filterOf(api, flags)), sort: str(flags.sort) },
        ['id', 'username', 'targetName', 'statusLabel', 'statusReason', 'job', 'suspended', 'lastVerifiedAt'],
        (c) => ({ ...c, job: c.job.state === 'idle' ? 'idle' : `${c.job.kind} ${c.job.state}` }),
      ),
  },
  {
    name: 'credentials get',
    arguments: 'ID',
    summary: 'one credential, a field per line',
    async handler({ api, args: [id], out }) {
      const r = await api.call<CredentialView>('GET', apiPath(`/credentials/${needId(id)}`));
      out(r, () => fields(r));
      return 0;
    },
  },
  {
    name: 'credentials password',
    arguments: 'ID',
    summary: 'the current password (admin; audited)',
    async handler({ api, args: [id], out }) {
      const r = await api.call<{ password: string }>('GET', apiPath(`/credentials/${needId(id)}/password`));
      out(r, () => r.password);
      return 0;
    },
  },
  {
    name: 'credentials history',
    arguments: 'ID',
    options: '[--limit N] [--cursor C] [--all]',
    summary: 'status history, newest first',
    handler: ({ args: [id], list }) =>
      list(`/credentials/${needId(id)}/history`, {}, ['at', 'statusLabel', 'reason', 'message']),
  },
  {
    name: 'credentials password-history',
    arguments: 'ID',
    options: '[--limit N]',
    summary: 'earlier passwords kept sealed (admin; audited)',
    async handler({ api, args: [id], flags, out }) {
      const r = await api.call<{ items: { id: string; kind: string; at: string; password: string }[] }>(
        'GET',
        apiPath(
          `/credentials/${needId(id)}/password-history${query({ limit: intFlag(flags, 'limit')?.toString() })}`,
        ),
      );
      out(r, () => table(r.items, ['at', 'kind', 'password']));
      return 0;
    },
  },
  request('verify', undefined, 'Sync now (also resumes a paused or suspended credential)'),
  request('change', '[--password P | --password-stdin]', 'Change now (choosing the password needs admin)'),
  switchSync('enable', 'sync on'),
  switchSync('disable', 'sync off'),
  switchSync('resume', 'resume a credential suspended by errors'),
  {
    name: 'credentials delete',
    arguments: 'ID',
    options: '[--force]',
    summary: '--force deletes even while a change is in flight',
    async handler({ api, args: [id], flags, out }) {
      const r = await api.call(
        'DELETE',
        apiPath(`/credentials/${needId(id)}${flags.force ? '?force=true' : ''}`),
      );
      out(r, () => `credential ${id}: ${flags.force ? 'force ' : ''}deleted`);
      return 0;
    },
  },
  {
    name: 'credentials bulk',
    arguments: 'sync-now|change|enable|disable|delete',
    options: `[--ids ID,ID | --ids-stdin] ${FILTER_OPTIONS} [--force]`,
    summary:
      "act on up to 1,000 credentials at once, by ids (--ids-stdin: one a line) or by the list's " +
      'filters; a line per credential and a summary; exits 3 if any failed; --force: delete even while ' +
      'a change is in flight',
    async handler({ api, args: [action], flags, out }) {
      const r = await api.call<BulkCredentialsView>(
        'POST',
        apiPath('/credentials/bulk'),
        await bulkBody(api, action, flags),
      );
      out(r, () =>
        [
          table(
            r.results.map((x) =>
              x.result === 'ok' ? { id: x.id, result: 'ok', message: x.status ?? 'deleted' } : { ...x },
            ),
            ['id', 'result', 'code', 'message'],
          ),
          `${action}: ${r.counts.ok} ok, ${r.counts.failed} failed (audit: credential_bulk ${r.bulkId})`,
        ].join('\n'),
      );
      return r.counts.failed ? 3 : 0;
    },
  },
  {
    name: 'credentials create',
    options: '--target ID --username U (--password P | --password-stdin)',
    summary: 'a credential with its current password',
    async handler({ api, flags, out }) {
      const r = await api.call<{ id: string; status: string }>('POST', apiPath('/credentials'), {
        targetId: need(str(flags.target), '--target'),
        username: need(str(flags.username), '--username'),
        password: need(passwordFrom(flags), '--password or --password-stdin'),
      });
      out(r, () => table([r], ['id', 'status']));
      return 0;
    },
  },
];
