import { readFileSync } from 'node:fs';
import type { CredentialView, SyncRunView } from '../shared/contracts/api.js';
import type { ApiClient } from './client.js';
import { progressBar, table } from './format.js';
import { importCredentials } from './import.js';

export const USAGE = `syncctl: operate the password sync coordinator

  syncctl [--url URL] [--token TOKEN] [--json] COMMAND

  summary                                  counts per status, overall and per site
  sites list | create NAME [--require-approval] | enable ID | disable ID
  sites token SITE_ID [--ttl SECONDS]      one-time enrollment token for a new agent
  agents list [--site ID] | enable ID | disable ID | approve ID | revoke ID
  targets list [--site ID] | create --site ID --name N --kind K [--connection JSON]
  targets update ID [--name N] [--connection JSON]   merged into the stored connection (null removes a
                                           field); a new host, port, URL, TLS or privileged account needs admin
  credentials list [--status S] [--reason R] [--site ID] [--target ID] [--group ID]
                   [--search TEXT] [--sort KEY|-KEY] [--limit N] [--cursor C]
  credentials get ID | password ID | verify ID | delete ID [--force]
  credentials create --target ID --username U (--password P | --password-stdin)
  credentials change ID [--password P | --password-stdin]
  runs list | get ID | start --kind verify|change [--site ID] [--target ID] [--wait]
  sync [--site ID] [--wait]                verify now; --wait shows progress, exits 3 on failures
  policies list | get ID | create --name N [--rules JSON] [--verify-interval S] [--rotate-interval S]
  groups list | get ID | create --name N --primary ID --members ID,ID,… [--policy ID]
  groups change ID [--password P | --password-stdin] [--wait]   one password, the primary first
  audit [--limit N] [--action A] [--actor ID] [--since ISO-TIME]
  import FILE.csv [--state FILE]           bulk create credentials: columns target,username,password[,policy]
                                           (target/policy by id or name); bad rows are reported with their
                                           line and skipped; done rows go to FILE.csv.import-state, so a
                                           rerun resumes; exits 3 when a row was rejected

  The token comes from --token, SYNCCTL_TOKEN or the config file (SYNCCTL_CONFIG,
  default ~/.config/syncctl/config.json); the URL from --url, SYNCCTL_URL or the file.
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

export async function runCommand(api: ApiClient, args: string[], flags: Flags): Promise<number> {
  const [resource, action, id] = args;
  const out = (value: unknown, render: () => string) =>
    process.stdout.write(`${flags.json ? JSON.stringify(value, null, 2) : render()}\n`);
  const path = (p: string) => `/api/v1${p}`;

  switch (resource === 'import' ? 'import' : `${resource} ${action ?? ''}`.trim()) {
    case 'summary': {
      const s = await api.call<{
        byStatus: Record<string, number>;
        sites: { name: string; byStatus: Record<string, number> }[];
      }>('GET', path('/summary'));
      out(s, () =>
        table(
          [{ site: 'ALL', ...s.byStatus }, ...s.sites.map((x) => ({ site: x.name, ...x.byStatus }))],
          ['site', ...Object.keys(s.byStatus)],
        ),
      );
      return 0;
    }
    case 'sites list': {
      const r = await api.call<{ items: Record<string, unknown>[] }>('GET', path('/sites'));
      out(r, () => table(r.items, ['id', 'name', 'enabled', 'requireApproval', 'lastSyncAt']));
      return 0;
    }
    case 'sites create': {
      const r = await api.call('POST', path('/sites'), {
        name: need(id, 'NAME'),
        requireApproval: flags['require-approval'] === true,
      });
      out(r, () => JSON.stringify(r));
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
    case 'sites token': {
      const ttl = str(flags.ttl);
      const r = await api.call<{ token: string; expiresAt: string }>(
        'POST',
        path(`/sites/${need(id, 'SITE_ID')}/enrollment-tokens`),
        ttl ? { ttlSeconds: Number(ttl) } : {},
      );
      out(r, () => `${r.token}\n(one-time; expires ${r.expiresAt})`);
      return 0;
    }
    case 'agents list': {
      const r = await api.call<{ items: Record<string, unknown>[] }>(
        'GET',
        path(`/agents${query({ siteId: str(flags.site) })}`),
      );
      out(r, () =>
        table(r.items, [
          'id',
          'name',
          'host',
          'version',
          'enabled',
          'approved',
          'online',
          'inFlight',
          'lastHeartbeatAt',
        ]),
      );
      return 0;
    }
    case 'targets list': {
      const r = await api.call<{ items: Record<string, unknown>[] }>(
        'GET',
        path(`/targets${query({ siteId: str(flags.site) })}`),
      );
      out(r, () => table(r.items, ['id', 'name', 'kind', 'siteId']));
      return 0;
    }
    case 'targets create': {
      const connection = str(flags.connection);
      const r = await api.call('POST', path('/targets'), {
        siteId: need(str(flags.site), '--site'),
        name: need(str(flags.name), '--name'),
        kind: need(str(flags.kind), '--kind'),
        connection: connection ? (JSON.parse(connection) as unknown) : {},
      });
      out(r, () => JSON.stringify(r));
      return 0;
    }
    case 'targets update': {
      const connection = str(flags.connection);
      const name = str(flags.name);
      const r = await api.call('PATCH', path(`/targets/${need(id, 'ID')}`), {
        ...(name === undefined ? {} : { name }),
        ...(connection === undefined ? {} : { connection: JSON.parse(connection) as unknown }),
      });
      out(r, () => JSON.stringify(r));
      return 0;
    }
    case 'credentials list': {
      const r = await api.call<{ items: CredentialView[]; nextCursor: string | null }>(
        'GET',
        path(
          `/credentials${query({ status: str(flags.status), reason: str(flags.reason), siteId: str(flags.site), targetId: str(flags.target), groupId: str(flags.group), q: str(flags.search), sort: str(flags.sort), limit: str(flags.limit), cursor: str(flags.cursor) })}`,
        ),
      );
      out(r, () =>
        [
          table(r.items as unknown as Record<string, unknown>[], [
            'id',
            'username',
            'targetName',
            'statusLabel',
            'statusReason',
            'lastVerifiedAt',
          ]),
          r.nextCursor ? `more: --cursor ${r.nextCursor}` : '',
        ]
          .filter(Boolean)
          .join('\n'),
      );
      return 0;
    }
    case 'credentials get': {
      const r = await api.call<CredentialView>('GET', path(`/credentials/${need(id, 'ID')}`));
      out(r, () =>
        Object.entries(r)
          .map(
            ([k, v]) =>
              `${k.padEnd(20)} ${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`,
          )
          .join('\n'),
      );
      return 0;
    }
    case 'credentials password': {
      const r = await api.call<{ password: string }>('GET', path(`/credentials/${need(id, 'ID')}/password`));
      out(r, () => r.password);
      return 0;
    }
    case 'credentials create': {
      const r = await api.call('POST', path('/credentials'), {
        targetId: need(str(flags.target), '--target'),
        username: need(str(flags.username), '--username'),
        password: need(passwordFrom(flags), '--password or --password-stdin'),
      });
      out(r, () => JSON.stringify(r));
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
    case 'credentials delete': {
      const r = await api.call(
        'DELETE',
        path(`/credentials/${need(id, 'ID')}${flags.force ? '?force=true' : ''}`),
      );
      out(r, () => `credential ${id}: deleted`);
      return 0;
    }
    case 'runs list': {
      const r = await api.call<{ items: SyncRunView[] }>(
        'GET',
        path(`/sync-runs${query({ limit: str(flags.limit) })}`),
      );
      out(r, () =>
        table(
          r.items.map((x) => ({ ...x, ...x.counts, scope: JSON.stringify(x.scope) })),
          [
            'id',
            'kind',
            'trigger',
            'scope',
            'startedAt',
            'finishedAt',
            'impacted',
            'success',
            'unsynced',
            'failed',
            'outcome',
          ],
        ),
      );
      return 0;
    }
    case 'runs get': {
      const r = await api.call<SyncRunView>('GET', path(`/sync-runs/${need(id, 'ID')}`));
      out(r, () => JSON.stringify(r, null, 2));
      return 0;
    }
    case 'runs start':
    case 'sync': {
      const kind = resource === 'sync' ? 'verify' : need(str(flags.kind), '--kind');
      const scope = {
        ...(str(flags.site) ? { siteId: str(flags.site) } : {}),
        ...(str(flags.target) ? { targetId: str(flags.target) } : {}),
      };
      let run = await api.call<SyncRunView>('POST', path('/sync-runs'), { kind, scope });
      if (!flags.wait) {
        out(run, () => `sync run ${run.id} started: ${run.counts.impacted} credentials`);
        return 0;
      }
      run = await waitForRun(api, run, !flags.json);
      out(run, () => `sync run ${run.id}: ${run.outcome} (${JSON.stringify(run.counts)})`);
      return run.outcome === 'success' ? 0 : 3;
    }
    case 'policies list': {
      const r = await api.call<{ items: Record<string, unknown>[] }>('GET', path('/policies'));
      out(r, () => table(r.items, ['id', 'name', 'verifyIntervalSeconds', 'rotateIntervalSeconds']));
      return 0;
    }
    case 'policies get':
    case 'groups get': {
      const r = await api.call(
        'GET',
        path(`/${resource === 'groups' ? 'sync-groups' : 'policies'}/${need(id, 'ID')}`),
      );
      out(r, () => JSON.stringify(r, null, 2));
      return 0;
    }
    case 'policies create': {
      const number = (v: string | boolean | undefined) => (typeof v === 'string' ? Number(v) : undefined);
      const r = await api.call('POST', path('/policies'), {
        name: need(str(flags.name), '--name'),
        rules: JSON.parse(str(flags.rules) ?? '{}') as unknown,
        ...(str(flags['verify-interval']) ? { verifyIntervalSeconds: number(flags['verify-interval']) } : {}),
        ...(str(flags['rotate-interval']) ? { rotateIntervalSeconds: number(flags['rotate-interval']) } : {}),
      });
      out(r, () => JSON.stringify(r));
      return 0;
    }
    case 'groups list': {
      const r = await api.call<{ items: Record<string, unknown>[] }>('GET', path('/sync-groups'));
      out(r, () =>
        table(
          r.items.map((g) => ({ ...g, members: Array.isArray(g.members) ? g.members.length : g.members })),
          ['id', 'name', 'policyId', 'primaryCredentialId', 'members'],
        ),
      );
      return 0;
    }
    case 'groups create': {
      const r = await api.call('POST', path('/sync-groups'), {
        name: need(str(flags.name), '--name'),
        primaryCredentialId: need(str(flags.primary), '--primary'),
        memberCredentialIds: need(str(flags.members), '--members')
          .split(',')
          .map((m) => m.trim())
          .filter(Boolean),
        ...(str(flags.policy) ? { policyId: str(flags.policy) } : {}),
      });
      out(r, () => JSON.stringify(r));
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
    case 'audit': {
      const r = await api.call<{ items: Record<string, unknown>[] }>(
        'GET',
        path(
          `/audit${query({ limit: str(flags.limit), action: str(flags.action), actor: str(flags.actor), since: str(flags.since) })}`,
        ),
      );
      out(r, () => table(r.items, ['id', 'at', 'actorType', 'actorId', 'action', 'objectType', 'objectId']));
      return 0;
    }
    case 'import': {
      const report = await importCredentials(api, need(action, 'FILE.csv'), {
        progress: !flags.json,
        ...(str(flags.state) ? { stateFile: str(flags.state) } : {}),
      });
      out(report, () =>
        [
          `${report.file}: ${report.rows} rows; imported ${report.imported}, already done ${report.skipped}, rejected ${report.rejected.length}`,
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
