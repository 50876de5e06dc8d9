import type { PolicyView } from '../../shared/contracts/api.js';
import { table } from '../format.js';
import { remove } from './toggle.js';
import {
  apiPath,
  intFlag,
  fields,
  givenFlags,
  jsonFlag,
  need,
  needId,
  str,
  type Command,
  type Flags,
  type Row,
} from './command.js';

const COLUMNS = ['id', 'name', 'verifyIntervalSeconds', 'rotateIntervalSeconds'];

/** `--verify-interval S` and `--rotate-interval S`, those given. */
function intervals(flags: Flags): { verifyIntervalSeconds?: number; rotateIntervalSeconds?: number } {
  const verify = intFlag(flags, 'verify-interval');
  const rotate = intFlag(flags, 'rotate-interval');
  return {
    ...(verify === undefined ? {} : { verifyIntervalSeconds: verify }),
    ...(rotate === undefined ? {} : { rotateIntervalSeconds: rotate }),
  };
}

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
      const r = await api.call<PolicyView>('GET', apiPath(`/policies/${needId(id)}`));
      out(r, () => fields(r));
      return 0;
    },
  },
  {
    name: 'policies create',
    options: '--name N [--rules JSON] [--verify-interval S] [--rotate-interval S]',
    summary: 'a policy: password rules (docs/passwords.md) and intervals in seconds',
    async handler({ api, flags, out }) {
      const r = await api.call<PolicyView>('POST', apiPath('/policies'), {
        name: need(str(flags.name), '--name'),
        rules: str(flags.rules) === undefined ? {} : jsonFlag(flags, 'rules'),
        ...intervals(flags),
      });
      out(r, () => table([r as unknown as Row], COLUMNS));
      return 0;
    },
  },
  {
    name: 'policies update',
    arguments: 'ID',
    options: '[--name N] [--rules JSON] [--verify-interval S] [--rotate-interval S]',
    summary: "a policy's name, rules or intervals (refused when it would no longer suit what uses it)",
    async handler({ api, args: [id], flags, out }) {
      const patch = {
        ...givenFlags(flags, { name: 'name' }),
        ...(str(flags.rules) === undefined ? {} : { rules: jsonFlag(flags, 'rules') }),
        ...intervals(flags),
      };
      if (Object.keys(patch).length === 0)
        throw new Error('nothing to change: give --name, --rules, --verify-interval or --rotate-interval');
      const r = await api.call<PolicyView>('PATCH', apiPath(`/policies/${needId(id)}`), patch);
      out(r, () => table([r as unknown as Row], COLUMNS));
      return 0;
    },
  },
  remove('policies', 'a policy nothing uses (refused naming the credential or group that does)'),
];
