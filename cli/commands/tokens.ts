import { table } from '../format.js';
import { apiPath, need, str, type Command, type Row } from './command.js';
import { toggle } from './toggle.js';

export const tokenCommands: Command[] = [
  {
    name: 'tokens list',
    summary: 'admin: the API tokens, their role, who created them and when, revoked or not',
    async handler({ api, out }) {
      const r = await api.call<{ items: Row[] }>('GET', apiPath('/tokens'));
      out(r, () => table(r.items, ['id', 'name', 'role', 'createdByName', 'createdAt', 'revokedAt']));
      return 0;
    },
  },
  {
    name: 'tokens create',
    arguments: 'NAME',
    options: '--role viewer|operator|admin',
    summary: 'admin: a new API token, printed once (keep it: it is never shown again)',
    async handler({ api, args: [name], flags, out }) {
      const r = await api.call<Row & { token: string }>('POST', apiPath('/tokens'), {
        name: need(name, 'NAME'),
        role: need(str(flags.role), '--role'),
      });
      out(r, () => `${table([r], ['id', 'name', 'role'])}\ntoken: ${r.token}`);
      return 0;
    },
  },
  toggle('tokens', 'revoke', 'admin: the token stops working for good', 'revoked'),
];
