import { existsSync } from 'node:fs';
import { chown, stat } from 'node:fs/promises';
import { createLogger } from '../../shared/logger.js';
import { VERSION } from '../../shared/version.js';
import { BUILT_IN_ADAPTERS } from '../adapters/index.js';
import { loadAgentConfig, type AgentConfig } from '../config.js';
import { probeCoordinator } from '../doctor/coordinator.js';
import { renderFindings, type Finding } from '../doctor/finding.js';
import { backoffDelay } from '../backoff.js';
import { setTimeout as delay } from 'node:timers/promises';
import { UNIT_NAME } from '../doctor/service-unit.js';
import { loadOrEnroll } from '../enrollment.js';
import { parseEnvFile, readEnvText, setEnvValues, writeEnvText } from '../env-file.js';
import { GatewayClient } from '../gateway.js';
import { JsonHttpClient } from '../http.js';
import { identityPath, readIdentity } from '../state.js';
import type { Command } from './args.js';
import { describe, fail, say } from './output.js';
import { configFileOf } from './settings.js';

type EnrollCommand = Extract<Command, { name: 'enroll' }>;

/** Files written as root in a state folder of the service's account go to that account. */
async function giveToFolderOwner(stateDir: string, files: string[]): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const { uid, gid } = await stat(stateDir);
  if (uid === 0) return;
  for (const file of files) await chown(file, uid, gid);
}

function nextSteps(config: AgentConfig, file: string, state: string, agentId: string): string[] {
  const lines = [''];
  if (state === 'pending') {
    lines.push(
      'The site requires approval: an administrator approves this agent (dashboard, Sites page, or',
      `syncctl agents approve ${agentId}) before it gets work.`,
      '',
    );
  }
  const packaged = ['/usr/lib/systemd/system', '/lib/systemd/system'].some((d) =>
    existsSync(`${d}/${UNIT_NAME}`),
  );
  if (packaged) {
    lines.push(
      'Start the agent now and at every boot:',
      '  systemctl enable --now sync-agent',
      'Then check it:',
      '  sync-agent doctor',
      '  journalctl -u sync-agent -f',
    );
  } else {
    lines.push('Start the agent:', `  sync-agent run --config ${file}`, `(state folder ${config.stateDir})`);
  }
  return lines;
}

/**
 * `sync-agent enroll`: checks the settings and that the coordinator answers, enrolls once with the
 * token, then writes the configuration file (COORDINATOR_URL, AGENT_TLS_CA_FILE, AGENT_NAME; never
 * the token, which is used up) and says what to start. Exit 0 when enrolled (or already enrolled
 * with this coordinator), 1 otherwise; nothing is written when enrolling fails.
 */
export async function enroll(command: EnrollCommand, env: NodeJS.ProcessEnv): Promise<number> {
  const file = configFileOf(command.config, env);
  if (file === undefined) {
    fail('--config FILE is required (the installed package uses /etc/sync-agent/agent.env)', 2);
  }
  const text = await readEnvText(file);
  const updates: Record<string, string | undefined> = {
    COORDINATOR_URL: command.url.trim(),
    ...(command.ca === undefined ? {} : { AGENT_TLS_CA_FILE: command.ca }),
    ...(command.agentName === undefined ? {} : { AGENT_NAME: command.agentName }),
    ENROLLMENT_TOKEN: undefined,
  };
  const fileValues = parseEnvFile(text, file);
  const config = loadAgentConfig({
    ...env,
    ...fileValues,
    ...updates,
    ENROLLMENT_TOKEN: command.token,
  });

  const stored = await readIdentity(config.stateDir);
  if (stored) {
    const same = sameAddress(fileValues.COORDINATOR_URL, config.coordinatorUrl);
    const where = `agent ${stored.agentId} of site ${stored.siteId} (${identityPath(config.stateDir)})`;
    if (same) {
      say(`Already enrolled as ${where}: nothing changed, the token was not used.`);
      return 0;
    }
    fail(
      `already enrolled as ${where}${fileValues.COORDINATOR_URL ? ` with ${fileValues.COORDINATOR_URL}` : ''}; ` +
        'the token was not used. To enroll with another coordinator, stop the agent, remove that file, and run enroll again',
    );
  }

  const deadline = AbortSignal.timeout(command.timeoutMs);
  const findings = await reachable(config, Date.now() + command.timeoutMs);
  if (findings.some((f) => f.status === 'fail')) {
    say(renderFindings(findings));
    fail('the coordinator cannot be reached as configured: nothing was written');
  }

  const log = createLogger('sync-agent', 'warn');
  const http = new JsonHttpClient(config.coordinatorUrl, `sync-agent/${VERSION}`, config.tls);
  const client = new GatewayClient(http);
  let identity;
  try {
    identity = await loadOrEnroll({
      config,
      client,
      adapters: BUILT_IN_ADAPTERS.map((a) => a.kind),
      version: VERSION,
      log,
      signal: deadline,
    });
  } catch (err) {
    fail(
      deadline.aborted
        ? `enrollment failed: no answer from the coordinator within ${command.timeoutMs / 1000} s (--timeout)`
        : `enrollment failed: ${describe(err)}`,
    );
  } finally {
    await client.close();
  }
  await giveToFolderOwner(config.stateDir, [identityPath(config.stateDir)]);
  try {
    await writeEnvText(file, setEnvValues(text, updates));
  } catch (err) {
    fail(
      `enrolled as agent ${identity.agentId}, but ${file} could not be written (${describe(err)}): ` +
        `set COORDINATOR_URL=${config.coordinatorUrl} in it yourself`,
    );
  }
  const state = identity.state ?? 'active';
  say(`Enrolled as agent ${identity.agentId} of site ${identity.siteId}.`);
  say(`Configuration written to ${file}; the agent's credential is in ${identityPath(config.stateDir)}.`);
  for (const line of nextSteps(config, file, state, identity.agentId)) say(line);
  return 0;
}

/**
 * The coordinator checked (doctor's checks of its address, TLS trust and health), again with backoff
 * while what fails is only reaching it (nothing listens yet, no answer, a proxy's 502 while it
 * starts) and there is time before `endsAt` (--timeout); a setting that cannot work (TLS trust, a client
 * certificate) fails at once. The last findings.
 */
async function reachable(config: AgentConfig, endsAt: number): Promise<Finding[]> {
  for (let attempt = 1; ; attempt++) {
    const findings = await probeCoordinator({ coordinatorUrl: config.coordinatorUrl, tls: config.tls });
    const failed = findings.filter((f) => f.status === 'fail');
    if (failed.length === 0 || failed.some((f) => f.check !== 'coordinator')) return findings;
    const wait = backoffDelay(attempt, 500, 5_000);
    if (Date.now() + wait >= endsAt) return findings;
    say(`${failed[0]!.detail}; trying again (--timeout)`);
    await delay(wait);
  }
}

/** The same coordinator address, however written (`https://host/` and `https://host`, the host's case). */
function sameAddress(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  try {
    return new URL(a).href === new URL(b).href;
  } catch {
    return a === b;
  }
}
