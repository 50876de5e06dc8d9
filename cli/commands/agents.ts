import { table } from '../format.js';
import { apiPath, query, str, type Command, type Row } from './command.js';
import { rename, toggle } from './toggle.js';

export const agentCommands: Command[] = [
  {
    name: 'agents list',
    options: '[--site ID]',
    summary: 'agents with their version, approval and heartbeat, and the supported agent versions',
    async handler({ api, flags, out }) {
      const r = await api.call<{
        items: Row[];
        agentVersions?: { min: string; max: string; latest: string };
      }>('GET', apiPath(`/agents${query({ siteId: str(flags.site) })}`));
      const v = r.agentVersions;
      const supported = v ? `\nsupported agent versions: ${v.min} to ${v.max} (latest ${v.latest})` : '';
      out(
        r,
        () =>
          table(r.items, [
            'id',
            'name',
            'host',
            'version',
            'versionStatus',
            'enabled',
            'approved',
            'online',
            'inFlight',
            'lastHeartbeatAt',
          ]) + supported,
      );
      return 0;
    },
  },
  toggle('agents', 'enable', 'the agent takes jobs again'),
  toggle('agents', 'disable', 'the agent takes no jobs (its heartbeat goes on)'),
  toggle('agents', 'approve', 'let an agent waiting for approval take jobs'),
  toggle('agents', 'revoke', "the agent's own credential stops working for good (the agent exits)"),
  toggle('agents', 'deny', 'refuse an agent waiting for approval: it is revoked', 'denied'),
  rename('agents', "an agent's name"),
];
