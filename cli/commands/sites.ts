import type { SyncRunView } from '../../shared/contracts/api.js';
import { table } from '../format.js';
import { apiPath, intFlag, need, needId, type Command, type Row } from './command.js';
import { finishRun } from './run-progress.js';
import { remove, rename, toggle } from './toggle.js';

export const siteCommands: Command[] = [
  {
    name: 'sites list',
    summary: 'sites with their approval setting and last sync',
    async handler({ api, out }) {
      const r = await api.call<{ items: Row[] }>('GET', apiPath('/sites'));
      out(r, () => table(r.items, ['id', 'name', 'enabled', 'requireApproval', 'lastSyncAt']));
      return 0;
    },
  },
  {
    name: 'sites create',
    arguments: 'NAME',
    options: '[--require-approval]',
    summary: 'a new site; --require-approval: its new agents wait for an operator',
    async handler({ api, args: [name], flags, out }) {
      const r = await api.call<Row>('POST', apiPath('/sites'), {
        name: need(name, 'NAME'),
        requireApproval: flags['require-approval'] === true,
      });
      out(r, () => table([r], ['id', 'name', 'enabled', 'requireApproval']));
      return 0;
    },
  },
  toggle('sites', 'enable', "the site's agents take jobs again"),
  toggle('sites', 'disable', "the site's agents take no jobs (the gateway refuses them)"),
  rename('sites', "a site's name"),
  remove(
    'sites',
    'admin: refused while the site has credentials or agents; --force deletes them with it',
    true,
  ),
  {
    name: 'sites resync',
    arguments: 'ID',
    options: '[--wait]',
    summary: 'verify every credential of the site now (a sync run)',
    async handler(ctx) {
      const run = await ctx.api.call<SyncRunView>('POST', apiPath('/sync-runs'), {
        kind: 'verify',
        scope: { siteId: need(ctx.args[0], 'SITE_ID') },
      });
      return finishRun(ctx, run);
    },
  },
  {
    name: 'sites token',
    arguments: 'SITE_ID',
    options: '[--ttl SECONDS] [--uses N]',
    summary: 'enrollment token for new agents (one-time unless --uses)',
    async handler({ api, args: [siteId], flags, out }) {
      const ttl = intFlag(flags, 'ttl');
      const uses = intFlag(flags, 'uses');
      const r = await api.call<{ token: string; expiresAt: string }>(
        'POST',
        apiPath(`/sites/${needId(siteId, 'SITE_ID')}/enrollment-tokens`),
        { ...(ttl === undefined ? {} : { ttlSeconds: ttl }), ...(uses === undefined ? {} : { uses }) },
      );
      out(
        r,
        () =>
          `${r.token}\n(${uses !== undefined && uses !== 1 ? `enrolls up to ${uses} agents` : 'one-time'}; expires ${r.expiresAt})`,
      );
      return 0;
    },
  },
  {
    name: 'sites tokens',
    arguments: 'SITE_ID',
    summary: "admin: the site's enrollment tokens, their state and uses left (never the tokens)",
    async handler({ api, args: [id], out }) {
      const r = await api.call<{ items: Row[] }>(
        'GET',
        apiPath(`/sites/${needId(id, 'SITE_ID')}/enrollment-tokens`),
      );
      out(r, () =>
        table(r.items, [
          'id',
          'state',
          'usesLeft',
          'expiresAt',
          'createdByName',
          'lastUsedByName',
          'revokedAt',
        ]),
      );
      return 0;
    },
  },
  {
    name: 'sites revoke-token',
    arguments: 'TOKEN_ID',
    summary: 'admin: an enrollment token enrolls no more agents',
    async handler({ api, args: [id], out }) {
      const r = await api.call<Row>(
        'POST',
        apiPath(`/enrollment-tokens/${needId(id, 'TOKEN_ID')}/revoke`),
        {},
      );
      out(r, () => `enrollment token ${id}: revoked`);
      return 0;
    },
  },
];
