import { str, type Command } from './command.js';

export const auditCommands: Command[] = [
  {
    name: 'audit',
    options:
      '[--action A] [--actor ID] [--object ID] [--object-type T] [--since ISO-TIME] [--until ISO-TIME] [--limit N] [--cursor C] [--all]',
    summary: 'the audit log, newest first',
    handler: ({ flags, list }) =>
      list(
        '/audit',
        {
          action: str(flags.action),
          actor: str(flags.actor),
          objectId: str(flags.object),
          objectType: str(flags['object-type']),
          since: str(flags.since),
          until: str(flags.until),
        },
        ['id', 'at', 'actorType', 'actorId', 'action', 'objectType', 'objectId'],
      ),
  },
];
