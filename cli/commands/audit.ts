import type { z } from 'zod';
import type { AuditView } from '../../shared/contracts/api.js';
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
        ['id', 'at', 'actorType', 'actor', 'action', 'objectType', 'object', 'objectId'],
        // Names beside ids (the token's or agent's name, `bob on files-01`), the id when there is none.
        (e: z.infer<typeof AuditView>) => ({
          ...e,
          actor: e.actorName ?? e.actorId,
          object: e.objectName ?? '',
        }),
      ),
  },
];
