import { readFileSync } from 'node:fs';
import type {
  CredentialView,
  OverviewView,
  PolicyView,
  SyncGroupView,
  SyncRunView,
} from '../shared/contracts/api.js';
import type { ApiClient } from './client.js';
import { progressBar, table } from './format.js';
import { CHANNELS_USAGE, runChannelsCommand } from './channels.js';
import { importCredentials } from './import.js';

export const USAGE = `syncctl: operate the password sync coordinator

  syncctl [--url URL] [--token TOKEN] [--json] COMMAND

  summary                                  counts per status, overall and per site
  overview                                 the dashboard's buckets (Active, With Issues, Suspended by Error,
                                           Not Configured) and each site's latest sync
  sites list | create NAME [--require-approval] | enable ID | disable ID
  sites resync ID [--wait]                 verify every credential of the site now (a sync run)
  sites token SITE_ID [--ttl SECONDS] [--uses N]   enrollment token for new agents (one-time unless --uses)
  agents list [--site ID] | enable ID | disable ID | approve ID | revoke ID
  targets list [--site ID] [--search TEXT] [--limit N] [--cursor C] [--all]
  targets create --site ID --name N --kind K [--connection JSON]   K: workstation, service, web,
                                           directory, windows, simulated (docs/adapters/K.md)
  targets update ID [--name N] [--connection JSON]   merged into the stored connection (null removes a
                                           field); a new host, port, URL, TLS or privileged account needs admin
  credentials list [--status S] [--reason R] [--site ID] [--target ID] [--group ID] [--search TEXT]
                   [--suspended] [--job-state idle|queued|active] [--sort KEY|-KEY] [--limit N]
                   [--cursor C] [--all]
  credentials get ID | password ID | history ID [--limit N] [--cursor C]
  credentials password-history ID [--limit N]   earlier passwords kept sealed (admin; audited)
  credentials verify ID                    Sync now (also resumes a paused or suspended credential)
  credentials change ID [--password P | --password-stdin]
  credentials enable ID | disable ID       sync on or off
  credentials resume ID                    resume a credential suspended by errors
  credentials delete ID [--force]          --force deletes even while a change is in flight
  credentials create --target ID --username U (--password P | --password-stdin)
  runs list [--outcome success|partial|failure|issues|running] [--site ID] [--since ISO-TIME] [--limit N]
            [--cursor C] [--all]            (issues = partial or failure: the With Issues bucket)
  runs get ID | items ID [--limit N] [--cursor C] [--all]
  runs cancel ID                           end a running run now: queued work it asked for is dropped,
                                           changes already handed to an agent finish (docs/sync-runs.md)
  runs start --kind verify|change [--site ID] [--target ID] [--wait]
  sync [--site ID] [--wait]                verify now; --wait shows progress, exits 3 on failures
  policies list | get ID | create --name N [--rules JSON] [--verify-interval S] [--rotate-interval S]
  groups list | get ID | create --name N --primary ID --members ID,ID,… [--policy ID]
  groups change ID [--password P | --password-stdin] [--wait]   one password, the primary first
  audit [--action A] [--actor ID] [--object ID] [--object-type T] [--since ISO-TIME] [--until ISO-TIME]
        [--limit N] [--cursor C] [--all]
${CHANNELS_USAGE}  import FILE.csv [--state FILE]           bulk create credentials: columns target,username,password[,policy]
                                           (target/policy by id or name); bad rows are reported with their
                                           line and skipped; done rows go to FILE.csv.import-state, so a
                                           rerun resumes; exits 3 when a row was rejected

  Lists print one page and the --cursor of the next; --all follows every page.
  The token comes from --token, SYNCCTL_TOKEN or the config file (SYNCCTL_CONFIG,
  default ~/.config/syncctl/config.json: {"url": "…", "token": "…"}); the URL from --url,
  SYNCCTL_URL or the file. Exit codes: 0 ok, 1 usage or network error, 2 refused by the API
  (4xx), 3 work finished with failures (sync --wait, import).
`;

type Flags = Record<string, string | boolean | undefined>;

const str = (v: string | boolean | undefined) => (typeof v === 'string' ? v : undefined);

function need(value: string | undefined, what: string): string {
  if (!value) throw new Error(`missing ${what} (see syncctl --help)`);
  return value;
}

function query(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams(
    Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined),
  );
  const s = q.toString();
  return s ? `?${s}` : '';
}

function passwordFrom(flags: Flags): string | undefined {
  if (flags['password-stdin']) return readFileSync(0, 'utf8').replace(/\r?\n$/, '');
  return str(flags.password);
}

type Row = Record<string, unknown>;
interface ListPage<T> {
  items: T[];
  nextCursor: string | null;
}

/** A field per line: `key   value` (objects as JSON). */
const fields = (r: object): string =>
  Object.entries(r)
    .map(([k, v]) => `${k.padEnd(20)} ${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`)
    .join('\n');

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
  scope: Object.keys(x.scope).length ? JSON.stringify(x.scope) : 'everything',
  outcome: x.finishedAt ? x.outcome : 'running',
});

export async function runCommand(api: ApiClient, args: string[], flags: Flags): Promise<number> {
  const [resource, action, id] = args;
  const out = (value: unknown, render: () => string) =>
    process.stdout.write(`${flags.json ? JSON.stringify(value, null, 2) : render()}\n`);
  const path = (p: string) => `/api/v1${p}`;

  /**
   * A paged list: one page from --cursor (the next page's cursor printed under the table), or every
   * page with --all.
   */
  const list = async <T extends object>(
    p: string,
    params: Record<string, string | undefined>,
    columns: string[],
    row: (item: T) => Row = (item) => item as Row,
  ) => {
    let page = await api.call<ListPage<T>>(
      'GET',
      path(`${p}${query({ ...params, limit: str(flags.limit), cursor: str(flags.cursor) })}`),
    );
    if (flags.all) {
      const items = [...page.items];
      while (page.nextCursor) {
        page = await api.call<ListPage<T>>(
          'GET',
          path(`${p}${query({ ...params, limit: str(flags.limit) ?? '500', cursor: page.nextCursor })}`),
        );
        items.push(...page.items);
      }
      page = { items, nextCursor: null };
    }
    const result = page;
    out(result, () =>
      [table(result.items.map(row), columns), result.nextCursor ? `more: --cursor ${result.nextCursor}` : '']
        .filter(Boolean)
        .join('\n'),
    );
    return 0;
  };

  if (resource === 'channels') return runChannelsCommand(api, action, id, flags, out);
  switch (resource === 'import' ? 'import' : `${resource} ${action ?? ''}`.trim()) {
    case 'summary': {
      const s = await api.call<{
        byStatus: Record<string, number>;
        suspended: number;
        sites: { name: string; byStatus: Record<string, number> }[];
      }>('GET', path('/summary'));
      out(s, () =>
        [
          table(
            [{ site: 'ALL', ...s.byStatus }, ...s.sites.map((x) => ({ site: x.name, ...x.byStatus }))],
            ['site', ...Object.keys(s.byStatus)],
          ),
          `suspended by error: ${s.suspended}`,
        ].join('\n'),
      );
      return 0;
    }
    case 'overview': {
      const o = await api.call<OverviewView>('GET', path('/overview'));
      const b = o.buckets;
      out(o, () =>
        [
          table(
            [
              {
                bucket: 'Active',
                count: b.active,
                meaning: `jobs running now (${b.queued} queued, ${b.delayed} waiting to retry)`,
              },
              {
                bucket: 'With Issues',
                count: b.withIssues,
                meaning: `runs that ended partial or failed, last ${b.withIssuesDays} days`,
              },
              {
                bucket: 'Suspended by Error',
                count: b.suspended,
                meaning: 'not scheduled until an operator acts (credentials resume ID)',
              },
              { bucket: 'Not Configured', count: b.notConfigured, meaning: 'sync disabled or no adapter' },
              { bucket: 'Runs in progress', count: b.runsInProgress, meaning: 'sync runs not finished yet' },
            ],
            ['bucket', 'count', 'meaning'],
          ),
          '',
          table(
            o.sites.map((x) => ({
              site: x.name,
              id: x.siteId,
              enabled: x.enabled,
              agents: `${x.agents.online}/${x.agents.total} online`,
              active: x.jobs?.active,
              queued: x.jobs?.queued,
              lastSync: x.lastSyncAt,
              lastVerified: x.lastVerifiedAt,
              last24h: `${x.last24h.ok} ok, ${x.last24h.failed} failed`,
              latestRun: x.latestRun ? (x.latestRun.finishedAt ? x.latestRun.outcome : 'running') : null,
              impacted: x.latestRun?.counts.impacted,
              success: x.latestRun?.counts.success,
              unsynced: x.latestRun?.counts.unsynced,
              partial: x.latestRun?.counts.partial,
              failed: x.latestRun?.counts.failed,
            })),
            [
              'site',
              'id',
              'enabled',
              'agents',
              'active',
              'queued',
              'lastSync',
              'lastVerified',
              'last24h',
              'latestRun',
              'impacted',
              'success',
              'unsynced',
              'partial',
              'failed',
            ],
          ),
        ].join('\n'),
      );
      return 0;
    }
    case 'sites list': {
      const r = await api.call<{ items: Row[] }>('GET', path('/sites'));
      out(r, () => table(r.items, ['id', 'name', 'enabled', 'requireApproval', 'lastSyncAt']));
      return 0;
    }
    case 'sites create': {
      const r = await api.call<Row>('POST', path('/sites'), {
        name: need(id, 'NAME'),
        requireApproval: flags['require-approval'] === true,
      });
      out(r, () => table([r], ['id', 'name', 'enabled', 'requireApproval']));
      return 0;
    }
    case 'sites enable':
    case 'sites disable':
    case 'agents enable':
    case 'agents disable':
    case 'agents approve':
    case 'agents revoke': {
      const r = await api.call('POST', path(`/${resource}/${need(id, 'ID')}/${action}`), {});
      out(r, () => `${resource!.slice(0, -1)} ${id}: ${action}d`);
      return 0;
    }
    case 'sites resync': {
      const run = await api.call<SyncRunView>('POST', path('/sync-runs'), {
        kind: 'verify',
        scope: { siteId: need(id, 'SITE_ID') },
      });
      return finishRun(api, run, flags, out);
    }
    case 'sites token': {
      const ttl = str(flags.ttl);
      const uses = str(flags.uses);
      const r = await api.call<{ token: string; expiresAt: string }>(
        'POST',
        path(`/sites/${need(id, 'SITE_ID')}/enrollment-tokens`),
        { ...(ttl ? { ttlSeconds: Number(ttl) } : {}), ...(uses ? { uses: Number(uses) } : {}) },
      );
      out(
        r,
        () =>
          `${r.token}\n(${uses && uses !== '1' ? `enrolls up to ${uses} agents` : 'one-time'}; expires ${r.expiresAt})`,
      );
      return 0;
    }
    case 'agents list': {
      const r = await api.call<{
        items: Row[];
        agentVersions?: { min: string; max: string; latest: string };
      }>('GET', path(`/agents${query({ siteId: str(flags.site) })}`));
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
    }
    case 'targets list':
      // The kind with its variant: service/postgres, directory/active_directory.
      return list<{ kind: string; connection?: Record<string, unknown> }>(
        '/targets',
        { siteId: str(flags.site), q: str(flags.search) },
        ['id', 'name', 'kind', 'siteId'],
        (t) => {
          const variant = t.connection?.flavour ?? t.connection?.driver;
          return { ...t, kind: typeof variant === 'string' ? `${t.kind}/${variant}` : t.kind } as Row;
        },
      );
    case 'targets create': {
      const connection = str(flags.connection);
      let parsed: unknown = {};
      if (connection) {
        try {
          parsed = JSON.parse(connection);
        } catch {
          throw new Error('--connection: not valid JSON');
        }
      }
      const r = await api.call<{ id: string }>('POST', path('/targets'), {
        siteId: need(str(flags.site), '--site'),
        name: need(str(flags.name), '--name'),
        kind: need(str(flags.kind), '--kind'),
        connection: parsed,
      });
      out(r, () => table([{ ...r, name: str(flags.name), kind: str(flags.kind) }], ['id', 'name', 'kind']));
      return 0;
    }
    case 'targets update': {
      const connection = str(flags.connection);
      const name = str(flags.name);
      let parsed: unknown;
      if (connection !== undefined) {
        try {
          parsed = JSON.parse(connection);
        } catch {
          throw new Error('--connection: not valid JSON');
        }
      }
      const r = await api.call<{ id: string; name: string; kind: string }>(
        'PATCH',
        path(`/targets/${need(id, 'ID')}`),
        {
          ...(name === undefined ? {} : { name }),
          ...(parsed === undefined ? {} : { connection: parsed }),
        },
      );
      out(r, () => table([r], ['id', 'name', 'kind']));
      return 0;
    }
    case 'credentials list':
      return list<CredentialView>(
        '/credentials',
        {
          status: str(flags.status),
          reason: str(flags.reason),
          siteId: str(flags.site),
          targetId: str(flags.target),
          groupId: str(flags.group),
          q: str(flags.search),
          suspended: flags.suspended ? 'true' : undefined,
          jobState: str(flags['job-state']),
          sort: str(flags.sort),
        },
        ['id', 'username', 'targetName', 'statusLabel', 'statusReason', 'job', 'suspended', 'lastVerifiedAt'],
        (c) => ({ ...c, job: c.job.state === 'idle' ? 'idle' : `${c.job.kind} ${c.job.state}` }),
      );
    case 'credentials get': {
      const r = await api.call<CredentialView>('GET', path(`/credentials/${need(id, 'ID')}`));
      out(r, () => fields(r));
      return 0;
    }
    case 'credentials history':
      return list(`/credentials/${need(id, 'ID')}/history`, {}, ['at', 'statusLabel', 'reason', 'message']);
    case 'credentials password': {
      const r = await api.call<{ password: string }>('GET', path(`/credentials/${need(id, 'ID')}/password`));
      out(r, () => r.password);
      return 0;
    }
    case 'credentials password-history': {
      const r = await api.call<{ items: { id: string; kind: string; at: string; password: string }[] }>(
        'GET',
        path(`/credentials/${need(id, 'ID')}/password-history${query({ limit: str(flags.limit) })}`),
      );
      out(r, () => table(r.items, ['at', 'kind', 'password']));
      return 0;
    }
    case 'credentials create': {
      const r = await api.call<{ id: string; status: string }>('POST', path('/credentials'), {
        targetId: need(str(flags.target), '--target'),
        username: need(str(flags.username), '--username'),
        password: need(passwordFrom(flags), '--password or --password-stdin'),
      });
      out(r, () => table([r], ['id', 'status']));
      return 0;
    }
    case 'credentials verify':
    case 'credentials change': {
      const password = action === 'change' ? passwordFrom(flags) : undefined;
      const r = await api.call<{ status: string }>(
        'POST',
        path(`/credentials/${need(id, 'ID')}/${action}`),
        password ? { password } : {},
      );
      out(r, () => `credential ${id}: ${action} requested (${r.status})`);
      return 0;
    }
    case 'credentials enable':
    case 'credentials disable':
    case 'credentials resume': {
      const r = await api.call<CredentialView>('POST', path(`/credentials/${need(id, 'ID')}/${action}`), {});
      const did = action === 'resume' ? 'resumed' : `sync ${action}d`;
      out(r, () => `credential ${id}: ${did} (${r.statusLabel}${r.suspended ? ', suspended' : ''})`);
      return 0;
    }
    case 'credentials delete': {
      const r = await api.call(
        'DELETE',
        path(`/credentials/${need(id, 'ID')}${flags.force ? '?force=true' : ''}`),
      );
      out(r, () => `credential ${id}: ${flags.force ? 'force ' : ''}deleted`);
      return 0;
    }
    case 'runs list':
      return list<SyncRunView>(
        '/sync-runs',
        { outcome: str(flags.outcome), siteId: str(flags.site), since: str(flags.since) },
        RUN_COLUMNS,
        runRow,
      );
    case 'runs get': {
      const r = await api.call<SyncRunView>('GET', path(`/sync-runs/${need(id, 'ID')}`));
      out(r, () => fields(runRow(r)));
      return 0;
    }
    case 'runs cancel': {
      const r = await api.call<SyncRunView>('POST', path(`/sync-runs/${need(id, 'ID')}/cancel`), {});
      out(r, () =>
        [
          `sync run ${r.id} cancelled${r.finishedAt ? '' : ' (still withdrawing its queued work)'}`,
          fields(runRow(r)),
        ].join('\n'),
      );
      return 0;
    }
    case 'runs items':
      return list(`/sync-runs/${need(id, 'ID')}/items`, {}, [
        'credentialId',
        'username',
        'targetName',
        'result',
        'reason',
        'at',
      ]);
    case 'runs start':
    case 'sync': {
      const kind = resource === 'sync' ? 'verify' : need(str(flags.kind), '--kind');
      const scope = {
        ...(str(flags.site) ? { siteId: str(flags.site) } : {}),
        ...(str(flags.target) ? { targetId: str(flags.target) } : {}),
      };
      const run = await api.call<SyncRunView>('POST', path('/sync-runs'), { kind, scope });
      return finishRun(api, run, flags, out);
    }
    case 'policies list': {
      const r = await api.call<{ items: Row[] }>('GET', path('/policies'));
      out(r, () => table(r.items, ['id', 'name', 'verifyIntervalSeconds', 'rotateIntervalSeconds']));
      return 0;
    }
    case 'policies get': {
      const r = await api.call<PolicyView>('GET', path(`/policies/${need(id, 'ID')}`));
      out(r, () => fields(r));
      return 0;
    }
    case 'groups get': {
      const g = await api.call<SyncGroupView>('GET', path(`/sync-groups/${need(id, 'ID')}`));
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
    }
    case 'policies create': {
      const number = (v: string | boolean | undefined) => (typeof v === 'string' ? Number(v) : undefined);
      const r = await api.call<PolicyView>('POST', path('/policies'), {
        name: need(str(flags.name), '--name'),
        rules: JSON.parse(str(flags.rules) ?? '{}') as unknown,
        ...(str(flags['verify-interval']) ? { verifyIntervalSeconds: number(flags['verify-interval']) } : {}),
        ...(str(flags['rotate-interval']) ? { rotateIntervalSeconds: number(flags['rotate-interval']) } : {}),
      });
      out(r, () =>
        table([r as unknown as Row], ['id', 'name', 'verifyIntervalSeconds', 'rotateIntervalSeconds']),
      );
      return 0;
    }
    case 'groups list': {
      const r = await api.call<{ items: Row[] }>('GET', path('/sync-groups'));
      out(r, () =>
        table(
          r.items.map((g) => ({ ...g, members: Array.isArray(g.members) ? g.members.length : g.members })),
          ['id', 'name', 'policyId', 'primaryCredentialId', 'members'],
        ),
      );
      return 0;
    }
    case 'groups create': {
      const r = await api.call<SyncGroupView>('POST', path('/sync-groups'), {
        name: need(str(flags.name), '--name'),
        primaryCredentialId: need(str(flags.primary), '--primary'),
        memberCredentialIds: need(str(flags.members), '--members')
          .split(',')
          .map((m) => m.trim())
          .filter(Boolean),
        ...(str(flags.policy) ? { policyId: str(flags.policy) } : {}),
      });
      out(r, () => table([{ ...r, members: r.members.length }], ['id', 'name', 'policyId', 'members']));
      return 0;
    }
    case 'groups change': {
      const password = passwordFrom(flags);
      let run = await api.call<SyncRunView>(
        'POST',
        path(`/sync-groups/${need(id, 'ID')}/change`),
        password ? { password } : {},
      );
      if (flags.wait) run = await waitForRun(api, run, !flags.json);
      out(
        run,
        () => `group change run ${run.id}: ${run.outcome ?? 'running'} (${JSON.stringify(run.counts)})`,
      );
      return !flags.wait || run.outcome === 'success' ? 0 : 3;
    }
    case 'audit':
      return list(
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
      );
    case 'import': {
      const report = await importCredentials(api, need(action, 'FILE.csv'), {
        progress: !flags.json,
        ...(str(flags.state) ? { stateFile: str(flags.state) } : {}),
      });
      out(report, () =>
        [
          `${report.file}: ${report.rows} rows; imported ${report.imported}, already done ${report.skipped}${report.existing ? ` (${report.existing} found on the coordinator)` : ''}, rejected ${report.rejected.length}`,
          report.rejected.length
            ? `rejected rows (fix them and run the same command again):\n${table(
                report.rejected.map((r) => ({ line: r.line, reason: r.reason })),
                ['line', 'reason'],
              )}`
            : '',
        ]
          .filter(Boolean)
          .join('\n'),
      );
      return report.rejected.length ? 3 : 0;
    }
    default:
      throw new Error(`unknown command '${args.join(' ')}' (see syncctl --help)`);
  }
}

/** A run just started: printed, or with --wait followed to its end (exit 3 unless it all succeeded). */
async function finishRun(
  api: ApiClient,
  started: SyncRunView,
  flags: Flags,
  out: (value: unknown, render: () => string) => void,
): Promise<number> {
  if (!flags.wait) {
    out(started, () => `sync run ${started.id} started: ${started.counts.impacted} credentials`);
    return 0;
  }
  const run = await waitForRun(api, started, !flags.json);
  out(run, () => `sync run ${run.id}: ${run.outcome} (${JSON.stringify(run.counts)})`);
  return run.outcome === 'success' ? 0 : 3;
}

async function waitForRun(api: ApiClient, run: SyncRunView, showProgress: boolean): Promise<SyncRunView> {
  const tty = showProgress && process.stderr.isTTY;
  while (!run.finishedAt) {
    const c = run.counts;
    const done = c.success + c.failed + c.unsynced + c.partial;
    if (showProgress)
      process.stderr.write(
        `${tty ? '\r' : ''}${progressBar(done, c.impacted)} failed ${c.failed}${tty ? '' : '\n'}`,
      );
    await new Promise((r) => setTimeout(r, tty ? 250 : 2000));
    run = await api.call<SyncRunView>('GET', `/api/v1/sync-runs/${run.id}`);
  }
  if (showProgress) {
    const c = run.counts;
    process.stderr.write(`${tty ? '\r' : ''}${progressBar(c.impacted, c.impacted)} failed ${c.failed}\n`);
  }
  return run;
}
