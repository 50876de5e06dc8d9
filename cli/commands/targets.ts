import { table } from '../format.js';
import { apiPath, jsonFlag, need, str, type Command, type Row } from './command.js';

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
        apiPath(`/targets/${need(id, 'ID')}`),
        {
          ...(name === undefined ? {} : { name }),
          ...(connection === undefined ? {} : { connection }),
        },
      );
      out(r, () => table([r], ['id', 'name', 'kind']));
      return 0;
    },
  },
];
