import type { CredentialView } from '../../shared/contracts/api.js';
import { table } from '../format.js';
import { apiPath, fields, need, passwordFrom, query, str, type Command } from './command.js';

/** `credentials enable ID`, `disable`, `resume`: the credential's new state in one line. */
const switchSync = (action: 'enable' | 'disable' | 'resume', summary: string): Command => ({
  name: `credentials ${action}`,
  arguments: 'ID',
  summary,
  async handler({ api, args: [id], out }) {
    const r = await api.call<CredentialView>('POST', apiPath(`/credentials/${need(id, 'ID')}/${action}`), {});
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
    const password = action === 'change' ? passwordFrom(flags) : undefined;
    const r = await api.call<{ status: string }>(
      'POST',
      apiPath(`/credentials/${need(id, 'ID')}/${action}`),
      password ? { password } : {},
    );
    out(r, () => `credential ${id}: ${action} requested (${r.status})`);
    return 0;
  },
});

export const credentialCommands: Command[] = [
  {
    name: 'credentials list',
    options:
      '[--status S] [--reason R] [--site ID] [--target ID] [--group ID] [--search TEXT] [--suspended] ' +
      '[--job-state idle|queued|active] [--sort KEY|-KEY] [--limit N] [--cursor C] [--all]',
    summary: 'credentials, filtered and sorted',
    handler: ({ flags, list }) =>
      list<CredentialView>(
        '/credentials',
        {
          status: str(flags.status),
          reason: str(flags.reason),
          siteId: str(flags.site),
          targetId: str(flags.target),
          groupId: str(flags.group),
          q: str(flags.search),
          suspended: flags.suspended ? 'true' : undefined,
          jobState: str(flags['job-state']),
          sort: str(flags.sort),
        },
        ['id', 'username', 'targetName', 'statusLabel', 'statusReason', 'job', 'suspended', 'lastVerifiedAt'],
        (c) => ({ ...c, job: c.job.state === 'idle' ? 'idle' : `${c.job.kind} ${c.job.state}` }),
      ),
  },
  {
    name: 'credentials get',
    arguments: 'ID',
    summary: 'one credential, a field per line',
    async handler({ api, args: [id], out }) {
      const r = await api.call<CredentialView>('GET', apiPath(`/credentials/${need(id, 'ID')}`));
      out(r, () => fields(r));
      return 0;
    },
  },
  {
    name: 'credentials password',
    arguments: 'ID',
    summary: 'the current password (admin; audited)',
    async handler({ api, args: [id], out }) {
      const r = await api.call<{ password: string }>(
        'GET',
        apiPath(`/credentials/${need(id, 'ID')}/password`),
      );
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
      list(`/credentials/${need(id, 'ID')}/history`, {}, ['at', 'statusLabel', 'reason', 'message']),
  },
  {
    name: 'credentials password-history',
    arguments: 'ID',
    options: '[--limit N]',
    summary: 'earlier passwords kept sealed (admin; audited)',
    async handler({ api, args: [id], flags, out }) {
      const r = await api.call<{ items: { id: string; kind: string; at: string; password: string }[] }>(
        'GET',
        apiPath(`/credentials/${need(id, 'ID')}/password-history${query({ limit: str(flags.limit) })}`),
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
        apiPath(`/credentials/${need(id, 'ID')}${flags.force ? '?force=true' : ''}`),
      );
      out(r, () => `credential ${id}: ${flags.force ? 'force ' : ''}deleted`);
      return 0;
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
