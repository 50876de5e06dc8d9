import type { SyncGroupView, SyncRunView } from '../../shared/contracts/api.js';
import { table } from '../format.js';
import {
  apiPath,
  fields,
  givenFlags,
  need,
  needId,
  passwordFrom,
  str,
  type Command,
  type Row,
} from './command.js';
import { waitForRun } from './run-progress.js';
import { GROUPS, remove, toggle } from './toggle.js';

/** A group as a row of one table. */
const groupTable = (r: SyncGroupView) =>
  table([{ ...r, members: r.members.length }], ['id', 'name', 'policyId', 'members']);

/** `--members a,b, c`: the ids, without blanks. */
const idList = (text: string): string[] =>
  text
    .split(',')
    .map((m) => m.trim())
    .filter(Boolean);

export const groupCommands: Command[] = [
  {
    name: 'groups list',
    summary: 'sync groups with their primary and member count',
    async handler({ api, out }) {
      const r = await api.call<{ items: Row[] }>('GET', apiPath('/sync-groups'));
      out(r, () =>
        table(
          r.items.map((g) => ({ ...g, members: Array.isArray(g.members) ? g.members.length : g.members })),
          ['id', 'name', 'policyId', 'primaryCredentialId', 'members'],
        ),
      );
      return 0;
    },
  },
  {
    name: 'groups get',
    arguments: 'ID',
    summary: 'one group, its last run and its members',
    async handler({ api, args: [id], out }) {
      const g = await api.call<SyncGroupView>('GET', apiPath(`/sync-groups/${needId(id)}`));
      out(g, () =>
        [
          fields({
            id: g.id,
            name: g.name,
            policyId: g.policyId,
            changeInProgress: g.changeInProgress,
            nextChangeAt: g.nextChangeAt,
            lastRun: g.lastRun
              ? `${g.lastRun.id} ${g.lastRun.finishedAt ? g.lastRun.outcome : 'running'}`
              : null,
          }),
          '',
          table(
            g.members.map((m) => ({ ...m, primary: m.primary ? 'primary' : '' })),
            ['credentialId', 'username', 'targetName', 'primary', 'status', 'statusReason', 'lastChangedAt'],
          ),
        ].join('\n'),
      );
      return 0;
    },
  },
  {
    name: 'groups create',
    options: '--name N --primary ID --members ID,ID,… [--policy ID]',
    summary: 'credentials that share one password',
    async handler({ api, flags, out }) {
      const r = await api.call<SyncGroupView>('POST', apiPath('/sync-groups'), {
        name: need(str(flags.name), '--name'),
        primaryCredentialId: need(str(flags.primary), '--primary'),
        memberCredentialIds: idList(need(str(flags.members), '--members')),
        ...(str(flags.policy) ? { policyId: str(flags.policy) } : {}),
      });
      out(r, () => groupTable(r));
      return 0;
    },
  },
  {
    name: 'groups update',
    arguments: 'ID',
    options: '[--name N] [--primary ID] [--members ID,ID,…] [--policy ID]',
    summary: "a group's name, primary, whole member list or policy (refused while a change is in progress)",
    async handler({ api, args: [id], flags, out }) {
      const members = str(flags.members);
      const patch = {
        ...givenFlags(flags, { name: 'name', primary: 'primaryCredentialId', policy: 'policyId' }),
        ...(members === undefined ? {} : { memberCredentialIds: idList(members) }),
      };
      if (Object.keys(patch).length === 0)
        throw new Error('nothing to change: give --name, --primary, --members or --policy');
      const r = await api.call<SyncGroupView>('PATCH', apiPath(`/sync-groups/${needId(id)}`), patch);
      out(r, () => groupTable(r));
      return 0;
    },
  },
  {
    name: 'groups change',
    arguments: 'ID',
    options: '[--password P | --password-stdin] [--wait]',
    summary: 'one password, the primary first',
    async handler({ api, args: [id], flags, out }) {
      const password = passwordFrom(flags, true);
      let run = await api.call<SyncRunView>(
        'POST',
        apiPath(`/sync-groups/${needId(id)}/change`),
        password ? { password } : {},
      );
      if (flags.wait) run = await waitForRun(api, run, !flags.json);
      out(
        run,
        () => `group change run ${run.id}: ${run.outcome ?? 'running'} (${JSON.stringify(run.counts)})`,
      );
      return !flags.wait || run.outcome === 'success' ? 0 : 3;
    },
  },
  toggle(GROUPS, 'enable', 'the group rotates again'),
  toggle(GROUPS, 'disable', 'the group is not rotated; a change now is refused'),
  remove(GROUPS, 'admin: its members rotate on their own again (refused while a change is in progress)'),
];
