import { parseArgs } from 'node:util';
import { z } from 'zod';

export const USAGE = `Usage:
  sync-agent [run] [--config FILE]
      Runs the agent (the service's command). Without a configuration file it reads its settings
      from the environment only.
  sync-agent enroll --url URL --token TOKEN [--ca FILE] [--name NAME] [--config FILE] [--timeout SECONDS]
      Enrolls this agent with the coordinator once (TOKEN from "syncctl sites token SITE_ID"), writes
      COORDINATOR_URL (--url), AGENT_TLS_CA_FILE (--ca) and AGENT_NAME (--name) into the
      configuration file, and says how to start the service. It needs a configuration file: --config,
      else $SYNC_AGENT_CONFIG (exit code 2 without either). --timeout: how long it waits for the
      coordinator's answer (default 30).
  sync-agent doctor [--config FILE] [--user NAME]
      Checks what an installation gets wrong (settings, coordinator reachable, TLS trust, clock,
      state folder rights, tools the adapters run) and says how to fix each; exit code 1 on a problem.
  sync-agent version | help

The configuration file holds NAME=value lines (see docs/agent-install.md). It defaults to
$SYNC_AGENT_CONFIG, which the installed package sets to /etc/sync-agent/agent.env. Its values win
over the environment's.`;

const seconds = z.coerce.number().int().min(1).max(3600);

export type Command =
  | { name: 'run'; config: string | undefined }
  | {
      name: 'enroll';
      config: string | undefined;
      url: string;
      token: string;
      ca: string | undefined;
      agentName: string | undefined;
      timeoutMs: number;
    }
  | { name: 'doctor'; config: string | undefined; user: string | undefined }
  | { name: 'version' }
  | { name: 'help' };

/** A command line that cannot be run: the message names the option. Exit code 2. */
export class UsageError extends Error {}

function options<T extends Record<string, { type: 'string' | 'boolean' }>>(args: string[], spec: T) {
  try {
    const { values, positionals } = parseArgs({ args, options: spec, strict: true, allowPositionals: true });
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    return values as { [K in keyof T]?: T[K]['type'] extends 'string' ? string : boolean };
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError((err as Error).message);
  }
}

const required = (value: string | undefined, flag: string): string => {
  if (value === undefined || value.trim() === '') throw new UsageError(`${flag} is required`);
  return value;
};

/** The command `argv` (without node and the script) asks for. */
export function parseCommand(argv: string[]): Command {
  const [first, ...rest] = argv;
  if (first === undefined || first.startsWith('-')) {
    if (first === '--help' || first === '-h') return { name: 'help' };
    if (first === '--version') return { name: 'version' };
    return { name: 'run', config: options(argv, { config: { type: 'string' } }).config };
  }
  switch (first) {
    case 'run':
      return { name: 'run', config: options(rest, { config: { type: 'string' } }).config };
    case 'enroll': {
      const o = options(rest, {
        url: { type: 'string' },
        token: { type: 'string' },
        ca: { type: 'string' },
        name: { type: 'string' },
        config: { type: 'string' },
        timeout: { type: 'string' },
      });
      const timeout = seconds.safeParse(o.timeout ?? '30');
      if (!timeout.success) throw new UsageError('--timeout: expected whole seconds, 1 to 3600');
      return {
        name: 'enroll',
        config: o.config,
        url: required(o.url, '--url'),
        token: required(o.token, '--token'),
        ca: o.ca,
        agentName: o.name,
        timeoutMs: timeout.data * 1000,
      };
    }
    case 'doctor': {
      const o = options(rest, { config: { type: 'string' }, user: { type: 'string' } });
      return { name: 'doctor', config: o.config, user: o.user };
    }
    case 'version':
      return { name: 'version' };
    case 'help':
      return { name: 'help' };
    default:
      throw new UsageError(`unknown command '${first}'`);
  }
}
