import type { ApiClient } from './client.js';
import type { Command, Flags } from './commands/command.js';
import { commandContext } from './commands/context.js';
import { COMMANDS } from './commands/index.js';
import { checkCommandLine } from './options.js';

/**
 * The command the positional words name, and the words after its name. A one-word command takes the
 * next word as its argument when it declares one (`import FILE.csv`); otherwise the name is two words
 * (`credentials get`).
 */
export function findCommand(positionals: string[]): { command: Command; args: string[] } | undefined {
  const [first = '', second] = positionals;
  const single = COMMANDS.find((c) => c.name === first && c.arguments);
  const name = single ? first : `${first} ${second ?? ''}`.trim();
  const command = single ?? COMMANDS.find((c) => c.name === name);
  return command && { command, args: positionals.slice(name.split(' ').length) };
}

export async function runCommand(api: ApiClient, positionals: string[], flags: Flags): Promise<number> {
  const found = findCommand(positionals);
  if (!found) throw new Error(`unknown command '${positionals.slice(0, 2).join(' ')}' (see syncctl --help)`);
  checkCommandLine(found.command, found.args, flags);
  return found.command.handler(commandContext(api, found.args, flags));
}
