import { readFileSync } from 'node:fs';
import type { DependencyView } from '../shared/contracts/dependencies.js';
import type { ApiClient } from './client.js';
import { table } from './format.js';

/** The dependency commands of syncctl (docs/cli.md, docs/adapters/dependencies.md). */
export const DEPENDENCIES_USAGE = `  credentials dependencies ID            its dependencies in order, with their last push and check
  credentials set-dependencies ID --file FILE.json   replace them ({"dependencies": [...]}; admin)
  credentials check-dependencies ID      check each can be reached and written (next verification)
  credentials retry-dependencies ID [--ids ID,ID]   push the stored password again to failed ones
  credentials set-stored-password ID (--password P | --password-stdin) [--push-dependencies]
                                           store a password changed on the target by hand (admin;
                                           audited), verify it, optionally push it to the dependencies
`;

type Flags = Record<string, string | boolean | undefined>;
const str = (v: string | boolean | undefined) => (typeof v === 'string' ? v : undefined);

/**
 * Runs `credentials <action> ID` when it is a dependency command; undefined otherwise. `password`
 * reads --password / --password-stdin as the other commands do.
 */
export async function runDependencyCommand(
  api: ApiClient,
  action: string | undefined,
  id: string | undefined,
  flags: Flags,
  io: { out: (value: unknown, render: () => string) => void; password: () => string | undefined },
): Promise<number | undefined> {
  const base = `/api/v1/credentials/${id ?? ''}`;
  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined || v === '') throw new Error(`missing ${what} (see syncctl --help)`);
    return v;
  };
  const asked = (r: { requested: string[]; status: string }, what: string) =>
    io.out(r, () => `credential ${id}: ${what} of ${r.requested.length} dependencies asked (${r.status})`);
  switch (action) {
    case 'dependencies': {
      need(id, 'ID');
      const r = await api.call<{ items: DependencyView[] }>('GET', `${base}/dependencies`);
      io.out(r, () =>
        table(r.items, ['position', 'id', 'kind', 'name', 'status', 'message', 'checkStatus', 'requested']),
      );
      return 0;
    }
    case 'set-dependencies': {
      need(id, 'ID');
      const body: unknown = JSON.parse(readFileSync(need(str(flags.file), '--file'), 'utf8'));
      const r = await api.call<{ items: DependencyView[] }>('POST', `${base}/dependencies`, body);
      io.out(r, () => table(r.items, ['position', 'id', 'kind', 'name']));
      return 0;
    }
    case 'check-dependencies':
      need(id, 'ID');
      asked(await api.call('POST', `${base}/dependencies/check`), 'a check');
      return 0;
    case 'retry-dependencies': {
      need(id, 'ID');
      const ids = str(flags.ids)?.split(',').filter(Boolean);
      asked(
        await api.call('POST', `${base}/dependencies/retry`, ids ? { dependencyIds: ids } : {}),
        'a push',
      );
      return 0;
    }
    case 'set-stored-password': {
      need(id, 'ID');
      const r = await api.call<{ status: string }>('POST', `${base}/stored-password`, {
        password: need(io.password(), '--password or --password-stdin'),
        pushDependencies: flags['push-dependencies'] === true,
      });
      io.out(r, () => `credential ${id}: stored password set, verification queued (${r.status})`);
      return 0;
    }
    default:
      return undefined;
  }
}
