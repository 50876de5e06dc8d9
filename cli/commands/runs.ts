import type { SyncRunView } from '../../shared/contracts/api.js';
import {
  apiPath,
  fields,
  need,
  needId,
  str,
  type Command,
  type CommandContext,
  type Row,
} from './command.js';
import { finishRun } from './run-progress.js';

const RUN_COLUMNS = [
  'id',
  'kind',
  'trigger',
  'scope',
  'startedAt',
  'finishedAt',
  'impacted',
  'success',
  'unsynced',
  'partial',
  'failed',
  'outcome',
];
const runRow = (x: SyncRunView): Row => ({
  ...x,
  ...x.counts,
  // The scope by name (`site Berlin`) when the API names it.
  scope: x.scopeName ?? (Object.keys(x.scope).length ? JSON.stringify(x.scope) : 'everything'),
  outcome: x.finishedAt ? x.outcome : 'running',
});

/** Starts a run over the --site / --target scope; --wait follows it to its end. */
async function startRun(ctx: CommandContext, kind: string): Promise<number> {
  const { flags } = ctx;
  const scope = {
    ...(str(flags.site) ? { siteId: str(flags.site) } : {}),
    ...(str(flags.target) ? { targetId: str(flags.target) } : {}),
  };
  const run = await ctx.api.call<SyncRunView>('POST', apiPath('/sync-runs'), { kind, scope });
  return finishRun(ctx, run);
}

export const runCommands: Command[] = [
  {
    name: 'runs list',
    options:
      '[--outcome success|partial|failure|issues|running] [--site ID] [--since ISO-TIME] [--limit N] [--cursor C] [--all]',
    summary: 'sync runs, newest first (issues = partial or failure: the With Issues bucket)',
    handler: ({ flags, list }) =>
      list<SyncRunView>(
        '/sync-runs',
        { outcome: str(flags.outcome), siteId: str(flags.site), since: str(flags.since) },
        RUN_COLUMNS,
        runRow,
      ),
  },
  {
    name: 'runs get',
    arguments: 'ID',
    summary: 'one run with its counts',
    async handler({ api, args: [id], out }) {
      const r = await api.call<SyncRunView>('GET', apiPath(`/sync-runs/${needId(id)}`));
      out(r, () => fields(runRow(r)));
      return 0;
    },
  },
  {
    name: 'runs items',
    arguments: 'ID',
    options: '[--limit N] [--cursor C] [--all]',
    summary: "the run's credentials with their result and reason",
    handler: ({ args: [id], list }) =>
      list(`/sync-runs/${needId(id)}/items`, {}, [
        'credentialId',
        'username',
        'targetName',
        'result',
        'reason',
        'at',
      ]),
  },
  {
    name: 'runs cancel',
    arguments: 'ID',
    summary:
      'end a running run now: queued work it asked for is dropped, changes already handed to an agent finish (docs/sync-runs.md)',
    async handler({ api, args: [id], out }) {
      const r = await api.call<SyncRunView>('POST', apiPath(`/sync-runs/${needId(id)}/cancel`), {});
      out(r, () =>
        [
          `sync run ${r.id} cancelled${r.finishedAt ? '' : ' (still withdrawing its queued work)'}`,
          fields(runRow(r)),
        ].join('\n'),
      );
      return 0;
    },
  },
  {
    name: 'runs start',
    options: '--kind verify|change [--site ID] [--target ID] [--wait]',
    summary: 'a sync run over everything, a site or a target',
    handler: (ctx) => startRun(ctx, need(str(ctx.flags.kind), '--kind')),
  },
  {
    name: 'sync',
    options: '[--site ID] [--target ID] [--wait]',
    summary: 'verify now; --wait shows progress, exits 3 on failures',
    handler: (ctx) => startRun(ctx, 'verify'),
  },
];
