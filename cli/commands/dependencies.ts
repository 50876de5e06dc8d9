import { readJsonFile } from '../input.js';
import type { DependencyView } from '../../shared/contracts/dependencies.js';
import { table } from '../format.js';
import { apiPath, need, needId, passwordFrom, str, type Command } from './command.js';

/** The dependency commands (docs/adapters/dependencies.md). */
const base = (id: string | undefined) => apiPath(`/credentials/${needId(id)}`);

/** `check-dependencies` and `retry-dependencies`: how many were asked, and the credential's status. */
const asked = (id: string | undefined, r: { requested: string[]; status: string }, what: string) =>
  `credential ${id}: ${what} of ${r.requested.length} dependencies asked (${r.status})`;

export const dependencyCommands: Command[] = [
  {
    name: 'credentials dependencies',
    arguments: 'ID',
    summary: 'its dependencies in order, with their last push and check',
    async handler({ api, args: [id], out }) {
      const r = await api.call<{ items: DependencyView[] }>('GET', `${base(id)}/dependencies`);
      out(r, () =>
        table(r.items, ['position', 'id', 'kind', 'name', 'status', 'message', 'checkStatus', 'requested']),
      );
      return 0;
    },
  },
  {
    name: 'credentials set-dependencies',
    arguments: 'ID',
    options: '--file FILE.json',
    summary: 'replace them ({"dependencies": [...]}; admin)',
    async handler({ api, args: [id], flags, out }) {
      const path = `${base(id)}/dependencies`;
      const body = readJsonFile(need(str(flags.file), '--file'), '--file');
      const r = await api.call<{ items: DependencyView[] }>('POST', path, body);
      out(r, () => table(r.items, ['position', 'id', 'kind', 'name']));
      return 0;
    },
  },
  {
    name: 'credentials check-dependencies',
    arguments: 'ID',
    summary: 'check each can be reached and written (next verification)',
    async handler({ api, args: [id], out }) {
      const r = await api.call<{ requested: string[]; status: string }>(
        'POST',
        `${base(id)}/dependencies/check`,
        {},
      );
      out(r, () => asked(id, r, 'a check'));
      return 0;
    },
  },
  {
    name: 'credentials retry-dependencies',
    arguments: 'ID',
    options: '[--ids ID,ID]',
    summary: 'push the stored password again to failed ones',
    async handler({ api, args: [id], flags, out }) {
      const ids = str(flags.ids)?.split(',').filter(Boolean);
      const r = await api.call<{ requested: string[]; status: string }>(
        'POST',
        `${base(id)}/dependencies/retry`,
        ids ? { dependencyIds: ids } : {},
      );
      out(r, () => asked(id, r, 'a push'));
      return 0;
    },
  },
  {
    name: 'credentials set-stored-password',
    arguments: 'ID',
    options: '(--password P | --password-stdin) [--push-dependencies]',
    summary:
      'store a password changed on the target by hand (admin; audited), verify it, optionally push it ' +
      'to the dependencies',
    async handler({ api, args: [id], flags, out }) {
      const r = await api.call<{ status: string }>('POST', `${base(id)}/stored-password`, {
        password: need(passwordFrom(flags), '--password or --password-stdin'),
        pushDependencies: flags['push-dependencies'] === true,
      });
      out(r, () => `credential ${id}: stored password set, verification queued (${r.status})`);
      return 0;
    },
  },
];
