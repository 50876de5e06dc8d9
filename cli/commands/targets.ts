import { readJsonFile } from '../input.js';
import { setTimeout as delay } from 'node:timers/promises';
import type { ApiClient } from '../client.js';
import { table } from '../format.js';
import { resolver, UUID } from '../names.js';
import { remove } from './toggle.js';
import { apiPath, fields, jsonFlag, need, needId, query, str, type Command, type Row } from './command.js';

/** How often `targets try-login` asks how its trial stands, and how long it waits at most. */
const TRIAL_POLL_MS = 500;
const TRIAL_WAIT_MS = 6 * 60_000;

interface Trial {
  id: string;
  state: string;
  outcome: string | null;
  reason: string | null;
  reasonLabel: string | null;
  detail: string | null;
}

/** A target's id from its id (passed as it is: the API says 404 when there is none) or its unique name. */
async function targetId(api: ApiClient, value: string): Promise<string> {
  if (UUID.test(value)) return value;
  const page = await api.call<{ items: { id: string; name: string }[] }>(
    'GET',
    apiPath(`/targets${query({ q: value, limit: '1000' })}`),
  );
  const id = resolver('target', page.items)(value);
  if (typeof id !== 'string') throw new Error(id.error);
  return id;
}

/** The login workflow of --workflow-file: a web target's `connection.login` (`{steps: [...]}`). */
function workflowFile(path: string): unknown {
  return readJsonFile(path, '--workflow-file');
}

const PAGING = '[--limit N] [--cursor C] [--all]';

export const targetCommands: Command[] = [
  {
    name: 'targets list',
    options: `[--site ID] [--search TEXT] ${PAGING}`,
    summary: 'targets, the kind with its variant (service/postgres, directory/active_directory)',
    handler: ({ flags, list }) =>
      list<{ kind: string; connection?: Record<string, unknown> }>(
        '/targets',
        { siteId: str(flags.site), q: str(flags.search) },
        ['id', 'name', 'kind', 'siteId'],
        (t) => {
          const variant = t.connection?.flavour ?? t.connection?.driver;
          return { ...t, kind: typeof variant === 'string' ? `${t.kind}/${variant}` : t.kind } as Row;
        },
      ),
  },
  {
    name: 'targets create',
    options: '--site ID --name N --kind K [--connection JSON]',
    summary:
      'K: workstation, service, web, directory, windows, simulated (docs/adapters/K.md describes its connection)',
    async handler({ api, flags, out }) {
      const connection = str(flags.connection) ? jsonFlag(flags, 'connection') : {};
      const r = await api.call<{ id: string }>('POST', apiPath('/targets'), {
        siteId: need(str(flags.site), '--site'),
        name: need(str(flags.name), '--name'),
        kind: need(str(flags.kind), '--kind'),
        connection,
      });
      out(r, () => table([{ ...r, name: str(flags.name), kind: str(flags.kind) }], ['id', 'name', 'kind']));
      return 0;
    },
  },
  {
    name: 'targets update',
    arguments: 'ID',
    options: '[--name N] [--connection JSON]',
    summary:
      'merged into the stored connection (null removes a field); a new host, port, URL, TLS or privileged account needs admin',
    async handler({ api, args: [id], flags, out }) {
      const connection = jsonFlag(flags, 'connection');
      const name = str(flags.name);
      const r = await api.call<{ id: string; name: string; kind: string }>(
        'PATCH',
        apiPath(`/targets/${needId(id)}`),
        {
          ...(name === undefined ? {} : { name }),
          ...(connection === undefined ? {} : { connection }),
        },
      );
      out(r, () => table([r], ['id', 'name', 'kind']));
      return 0;
    },
  },
  {
    name: 'targets try-login',
    arguments: 'TARGET',
    options: '--workflow-file FILE --credential ID',
    summary:
      "tries an unsaved web login workflow (FILE: JSON of connection.login) with the credential's stored password on an agent of the target's site; waits, exit 3 when the login fails",
    async handler({ api, args: [target], flags, out }) {
      const id = await targetId(api, need(target, 'TARGET'));
      const workflow = workflowFile(need(str(flags['workflow-file']), '--workflow-file'));
      let trial = await api.call<Trial>('POST', apiPath(`/targets/${encodeURIComponent(id)}/login-trials`), {
        workflow,
        credentialId: need(str(flags.credential), '--credential'),
      });
      const deadline = Date.now() + TRIAL_WAIT_MS;
      while ((trial.state === 'queued' || trial.state === 'running') && Date.now() < deadline) {
        await delay(TRIAL_POLL_MS);
        trial = await api.call<Trial>('GET', apiPath(`/targets/${id}/login-trials/${trial.id}`));
      }
      out(trial, () =>
        fields({
          trial: trial.id,
          state: trial.state,
          outcome: trial.outcome ?? '-',
          reason: trial.reasonLabel ?? '-',
          detail: trial.detail ?? '-',
        }),
      );
      return trial.state === 'done' && trial.outcome === 'ok' ? 0 : 3;
    },
  },
  remove('targets', 'refused while the target has credentials; --force deletes them with it', true),
];
