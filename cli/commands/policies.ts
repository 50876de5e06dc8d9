import type { PolicyView } from '../../shared/contracts/api.js';
import { table } from '../format.js';
import { apiPath, fields, jsonFlag, need, str, type Command, type Row } from './command.js';

const COLUMNS = ['id', 'name', 'verifyIntervalSeconds', 'rotateIntervalSeconds'];

export const policyCommands: Command[] = [
  {
    name: 'policies list',
    summary: 'password policies with their intervals',
    async handler({ api, out }) {
      const r = await api.call<{ items: Row[] }>('GET', apiPath('/policies'));
      out(r, () => table(r.items, COLUMNS));
      return 0;
    },
  },
  {
    name: 'policies get',
    arguments: 'ID',
    summary: 'one policy, a field per line',
    async handler({ api, args: [id], out }) {
      const r = await api.call<PolicyView>('GET', apiPath(`/policies/${need(id, 'ID')}`));
      out(r, () => fields(r));
      return 0;
    },
  },
  {
    name: 'policies create',
    options: '--name N [--rules JSON] [--verify-interval S] [--rotate-interval S]',
    summary: 'a policy: password rules (docs/passwords.md) and intervals in seconds',
    async handler({ api, flags, out }) {
      const number = (v: string | boolean | undefined) => (typeof v === 'string' ? Number(v) : undefined);
      const r = await api.call<PolicyView>('POST', apiPath('/policies'), {
        name: need(str(flags.name), '--name'),
        rules: str(flags.rules) === undefined ? {} : jsonFlag(flags, 'rules'),
        ...(str(flags['verify-interval']) ? { verifyIntervalSeconds: number(flags['verify-interval']) } : {}),
        ...(str(flags['rotate-interval']) ? { rotateIntervalSeconds: number(flags['rotate-interval']) } : {}),
      });
      out(r, () => table([r as unknown as Row], COLUMNS));
      return 0;
    },
  },
];
