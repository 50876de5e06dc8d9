import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstat, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { outboxPath } from '../outbox.js';
import { identityPath, readIdentity } from '../state.js';
import { ok, problem, skipped, warn, type Finding } from './finding.js';

/** A local account: who the agent runs as. */
export interface Account {
  name: string;
  uid: number;
  gid: number;
}

/** The account `name` (getent, so NSS users count too); undefined when there is none. */
export async function lookupAccount(name: string): Promise<Account | undefined> {
  try {
    const { stdout } = await promisify(execFile)('getent', ['passwd', name], { timeout: 5_000 });
    const [, , uid, gid] = stdout.trim().split(':');
    if (uid === undefined || gid === undefined) return undefined;
    return { name, uid: Number(uid), gid: Number(gid) };
  } catch {
    return undefined;
  }
}

export function currentAccount(): Account {
  const info = os.userInfo();
  return { name: info.username, uid: info.uid, gid: info.gid };
}

const octal = (mode: number): string => `0${(mode & 0o777).toString(8)}`;

const errnoOf = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;

export interface StateDirInput {
  stateDir: string;
  /** The account the service runs as. */
  account: Account;
  /** Whether ENROLLMENT_TOKEN is set (a first start can enroll by itself). */
  hasEnrollmentToken: boolean;
}

/**
 * The state folder as the service needs it: a folder of the service's account that nobody else
 * may enter (0700), holding identity.json (0600, the agent's credential) and the outbox.
 */
export async function checkStateDir(input: StateDirInput): Promise<Finding[]> {
  const { stateDir, account, hasEnrollmentToken } = input;
  const check = 'state folder';
  const owner = `${account.name}:`;
  const chown = `chown -R ${owner} ${stateDir}`;
  let info;
  try {
    info = await lstat(stateDir);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') {
      return [
        problem(
          check,
          `${stateDir} does not exist`,
          `install -d -o ${account.name} -g ${account.gid} -m 700 ${stateDir}`,
        ),
      ];
    }
    return [problem(check, `cannot look at ${stateDir} (${errnoOf(err)})`, 'run sync-agent doctor as root')];
  }
  if (!info.isDirectory()) {
    return [
      problem(
        check,
        `${stateDir} is not a folder`,
        `move it away and run: install -d -o ${account.name} -m 700 ${stateDir}`,
      ),
    ];
  }
  const findings: Finding[] = [];
  const wrong: string[] = [];
  const fixes: string[] = [];
  if (info.uid !== account.uid) {
    wrong.push(`belongs to uid ${info.uid}, the agent runs as ${account.name} (uid ${account.uid})`);
    fixes.push(chown);
  }
  if ((info.mode & 0o077) !== 0) {
    wrong.push(`mode ${octal(info.mode)} lets other users in`);
    fixes.push(`chmod 700 ${stateDir}`);
  }
  findings.push(
    wrong.length > 0
      ? problem(check, `${stateDir}: ${wrong.join('; ')}`, fixes.join(' && '))
      : ok(check, `${stateDir}: ${account.name}'s, mode ${octal(info.mode)}`),
  );
  findings.push(...(await checkFiles(stateDir, account, hasEnrollmentToken, chown)));
  return findings;
}

async function checkFiles(
  stateDir: string,
  account: Account,
  hasEnrollmentToken: boolean,
  chown: string,
): Promise<Finding[]> {
  const findings: Finding[] = [];
  const me = process.getuid?.();
  if (me !== 0 && me !== account.uid) {
    return [
      skipped('enrolled', `cannot look inside ${stateDir} as uid ${me}: run sync-agent doctor as root`),
    ];
  }
  const file = identityPath(stateDir);
  let identity;
  try {
    identity = await readIdentity(stateDir);
  } catch (err) {
    return [problem('enrolled', (err as Error).message, `rm ${file}, then sync-agent enroll again`)];
  }
  if (!identity) {
    findings.push(
      hasEnrollmentToken
        ? ok('enrolled', 'not yet: the agent enrolls with ENROLLMENT_TOKEN when it starts')
        : problem(
            'enrolled',
            `no identity in ${stateDir}`,
            'sync-agent enroll --url COORDINATOR_URL --token TOKEN',
          ),
    );
  } else {
    const info = await stat(file);
    const wrong: string[] = [];
    if (info.uid !== account.uid) wrong.push(`belongs to uid ${info.uid}, not ${account.name}`);
    if ((info.mode & 0o077) !== 0) wrong.push(`mode ${octal(info.mode)} (should be 0600)`);
    findings.push(
      wrong.length > 0
        ? problem('enrolled', `${file} ${wrong.join('; ')}`, `${chown} && chmod 600 ${file}`)
        : ok('enrolled', `agent ${identity.agentId} of site ${identity.siteId}`),
    );
  }
  const outbox = await outboxLines(outboxPath(stateDir));
  if (outbox !== undefined && outbox.uid !== account.uid) {
    findings.push(
      problem('outbox', `${outboxPath(stateDir)} belongs to uid ${outbox.uid}, not ${account.name}`, chown),
    );
  } else if (outbox !== undefined && outbox.lines > 0) {
    findings.push(
      warn(
        'outbox',
        `${outbox.lines} result(s) wait to be delivered; the agent sends them once the coordinator answers`,
      ),
    );
  }
  if (me === account.uid) findings.push(await writable(stateDir));
  return findings;
}

async function outboxLines(file: string): Promise<{ lines: number; uid: number } | undefined> {
  try {
    const [text, info] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
    return { lines: text.split('\n').filter((l) => l.trim() !== '').length, uid: info.uid };
  } catch {
    return undefined;
  }
}

/** Run as the service's account: can it write there (a read-only mount, a full disk)? */
async function writable(stateDir: string): Promise<Finding> {
  const probe = path.join(stateDir, `.doctor-${randomBytes(4).toString('hex')}`);
  try {
    await writeFile(probe, 'probe', { mode: 0o600 });
    await rm(probe, { force: true });
    return ok('state folder writable', stateDir);
  } catch (err) {
    return problem(
      'state folder writable',
      `cannot write in ${stateDir} (${errnoOf(err)})`,
      'check the file system is mounted read-write and not full (df -h)',
    );
  }
}
