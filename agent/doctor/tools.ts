import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { ADAPTER_TOOLS, type RequiredTool } from '../adapters/tools.js';
import { ok, problem, type Finding } from './finding.js';

/** Where systemd looks for programs when the unit sets no PATH. */
const SERVICE_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin'];

async function find(command: string, dirs: readonly string[]): Promise<string | undefined> {
  for (const dir of dirs) {
    const file = path.join(dir, command);
    try {
      await access(file, constants.X_OK);
      return file;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

/**
 * The programs the adapters of `kinds` run are installed: found in `pathDirs` ($PATH) or the
 * folders systemd gives the service.
 */
export async function checkTools(
  kinds: readonly string[],
  pathDirs: readonly string[] = (process.env.PATH ?? '').split(':').filter(Boolean),
  servicePath: readonly string[] = SERVICE_PATH,
): Promise<Finding[]> {
  const dirs = [...new Set([...pathDirs, ...servicePath])];
  const needed: [string, RequiredTool][] = kinds.flatMap((kind) =>
    (ADAPTER_TOOLS[kind] ?? []).map((tool): [string, RequiredTool] => [kind, tool]),
  );
  const builtIn = kinds.filter((kind) => !ADAPTER_TOOLS[kind]?.length);
  const findings: Finding[] = [];
  if (builtIn.length > 0)
    findings.push(ok('tools', `${builtIn.join(', ')}: built into the agent, nothing to install`));
  for (const [kind, tool] of needed) {
    const found = await find(tool.command, dirs);
    findings.push(
      found
        ? ok(`tool ${tool.command}`, `${found} (${kind} targets: ${tool.purpose})`)
        : problem(
            `tool ${tool.command}`,
            `not installed: ${kind} targets need it for ${tool.purpose}`,
            `apt-get install ${tool.debianPackage}`,
          ),
    );
  }
  return findings;
}
