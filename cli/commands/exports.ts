/**
 * Exports (docs/api.md "Exports"): each list's filters, `--format csv|json` (or `--json`), written to
 * `--output FILE` or stdout as the coordinator streams it.
 */
import { createWriteStream } from 'node:fs';
import { apiPath, needId, query, str, type Command, type CommandContext } from './command.js';

const OUTPUT = '[--format csv|json] [--output FILE]';

async function download(ctx: CommandContext, path: string, params: Record<string, string | undefined>) {
  // `--json`, which every read takes, is `--format json` here.
  const given = str(ctx.flags.format);
  if (ctx.flags.json && given !== undefined && given !== 'json')
    throw new Error(`--json and --format ${given} disagree: give one of them`);
  const format = given ?? (ctx.flags.json ? 'json' : 'csv');
  const output = str(ctx.flags.output);
  const bytes = await ctx.api.download(apiPath(`${path}${query({ ...params, format })}`), () =>
    output ? createWriteStream(output) : process.stdout,
  );
  if (output) process.stderr.write(`wrote ${output} (${bytes} bytes, ${format})\n`);
  return 0;
}

export const exportCommands: Command[] = [
  {
    name: 'credentials export',
    options:
      `${OUTPUT} [--status S] [--reason R] [--site ID] [--target ID] [--group ID] [--search TEXT] ` +
      '[--suspended] [--job-state idle|queued|active] [--sort KEY|-KEY]',
    summary: 'every credential of the filter as CSV (default) or JSON, streamed; never a password (audited)',
    handler: (ctx) =>
      download(ctx, '/credentials/export', {
        status: str(ctx.flags.status),
        reason: str(ctx.flags.reason),
        siteId: str(ctx.flags.site),
        targetId: str(ctx.flags.target),
        groupId: str(ctx.flags.group),
        q: str(ctx.flags.search),
        suspended: ctx.flags.suspended ? 'true' : undefined,
        jobState: str(ctx.flags['job-state']),
        sort: str(ctx.flags.sort),
      }),
  },
  {
    name: 'runs export',
    options: `${OUTPUT} [--outcome success|partial|failure|issues|running] [--site ID] [--since ISO-TIME]`,
    summary: 'the sync history of the filter as CSV (default) or JSON (audited)',
    handler: (ctx) =>
      download(ctx, '/sync-runs/export', {
        outcome: str(ctx.flags.outcome),
        siteId: str(ctx.flags.site),
        since: str(ctx.flags.since),
      }),
  },
  {
    name: 'runs items-export',
    arguments: 'ID',
    options: OUTPUT,
    summary: "a run's per-credential results as CSV (default) or JSON (audited)",
    handler: (ctx) => download(ctx, `/sync-runs/${needId(ctx.args[0])}/items/export`, {}),
  },
  {
    name: 'audit export',
    options: `${OUTPUT} [--action A] [--actor ID] [--object ID] [--object-type T] [--since ISO-TIME] [--until ISO-TIME]`,
    summary: 'the audit log of the filter as CSV (default) or JSON (audited)',
    handler: (ctx) =>
      download(ctx, '/audit/export', {
        action: str(ctx.flags.action),
        actor: str(ctx.flags.actor),
        objectId: str(ctx.flags.object),
        objectType: str(ctx.flags['object-type']),
        since: str(ctx.flags.since),
        until: str(ctx.flags.until),
      }),
  },
  {
    name: 'sites report',
    arguments: 'ID',
    options: `${OUTPUT} [--since ISO-TIME] [--until ISO-TIME]`,
    summary:
      "a site's compliance report: every credential, status, last verified and changed, policy, who revealed it in the period (default 30 days)",
    handler: (ctx) =>
      download(ctx, `/sites/${needId(ctx.args[0])}/compliance-report`, {
        since: str(ctx.flags.since),
        until: str(ctx.flags.until),
      }),
  },
];
