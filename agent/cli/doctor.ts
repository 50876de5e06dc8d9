import { stat } from 'node:fs/promises';
import { VERSION } from '../../shared/version.js';
import { BUILT_IN_ADAPTERS } from '../adapters/index.js';
import { loadAgentConfig, type AgentConfig } from '../config.js';
import { probeCoordinator } from '../doctor/coordinator.js';
import { ok, problem, renderFindings, warn, type Finding } from '../doctor/finding.js';
import { checkStopTimeout } from '../doctor/service-unit.js';
import { checkStateDir, currentAccount, lookupAccount, type Account } from '../doctor/state-dir.js';
import { checkTools } from '../doctor/tools.js';
import { describe, say } from './output.js';
import { configFileOf, loadSettings } from './settings.js';

/** Node.js releases the agent supports (package.json engines). */
const MIN_NODE = [20, 11] as const;

function nodeFinding(): Finding {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  const supported = major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1]);
  return supported
    ? ok('node', `Node.js ${process.versions.node}`)
    : problem(
        'node',
        `Node.js ${process.versions.node} is older than ${MIN_NODE.join('.')}`,
        'install Node.js 20.11 or newer (Debian: apt-get install nodejs)',
      );
}

async function configFileFinding(file: string): Promise<Finding | undefined> {
  let info;
  try {
    info = await stat(file);
  } catch {
    return problem(
      'configuration',
      `${file} does not exist`,
      'sync-agent enroll --url COORDINATOR_URL --token TOKEN writes it (or reinstall the package)',
    );
  }
  if ((info.mode & 0o077) !== 0) {
    return warn(
      'configuration file',
      `${file} is readable by other users (mode 0${(info.mode & 0o777).toString(8)}); it may hold ENROLLMENT_TOKEN`,
      `chmod 600 ${file}`,
    );
  }
  return undefined;
}

/** The account the service runs as: --user, else $SYNC_AGENT_USER (the package sets it), else this one. */
async function serviceAccount(name: string | undefined): Promise<Account | Finding> {
  if (name === undefined) return currentAccount();
  const account = await lookupAccount(name);
  return (
    account ??
    problem(
      'service account',
      `there is no account ${name}`,
      'reinstall the package (it creates the sync-agent account), or name the account with --user',
    )
  );
}

/** Lines of findings on stdout; exit code 1 when one of them is a problem. */
export async function doctor(
  command: { config: string | undefined; user: string | undefined },
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const findings: Finding[] = [nodeFinding()];
  const file = configFileOf(command.config, env);
  say(
    `sync-agent doctor: version ${VERSION}; ${file ? `configuration ${file}` : 'settings from the environment'}`,
  );
  say();
  let config: AgentConfig | undefined;
  const fileFinding = file === undefined ? undefined : await configFileFinding(file);
  if (fileFinding) findings.push(fileFinding);
  if (fileFinding?.status !== 'fail') {
    try {
      const settings = await loadSettings(command.config, env);
      config = loadAgentConfig(settings.env);
      const url = new URL(config.coordinatorUrl);
      findings.push(
        ok(
          'configuration',
          `COORDINATOR_URL ${url.origin}${url.pathname.replace(/\/$/, '')}, state folder ${config.stateDir}`,
        ),
      );
    } catch (err) {
      findings.push(
        problem(
          'configuration',
          describe(err)
            .replace(/^invalid configuration:\s*/, '')
            .replace(/\n\s*/g, '; '),
          `correct the setting named${file ? ` in ${file}` : ''} (see docs/agent-install.md)`,
        ),
      );
    }
  }
  const account = await serviceAccount(command.user ?? (env.SYNC_AGENT_USER?.trim() || undefined));
  if (!('uid' in account)) findings.push(account);
  if (config) {
    findings.push(...(await probeCoordinator({ coordinatorUrl: config.coordinatorUrl, tls: config.tls })));
    if ('uid' in account) {
      findings.push(
        ...(await checkStateDir({
          stateDir: config.stateDir,
          account,
          hasEnrollmentToken: config.enrollmentToken !== undefined,
        })),
      );
    }
    findings.push(...(await checkStopTimeout(config.shutdownGraceMs)));
  }
  findings.push(...(await checkTools(BUILT_IN_ADAPTERS.map((a) => a.kind))));
  say(renderFindings(findings));
  return findings.some((f) => f.status === 'fail') ? 1 : 0;
}
