import type { Command } from './commands/command.js';

/** parseArgs options, each taking one value at most (so every flag is a string or a boolean). */
type Options = Record<
  string,
  { type: 'string' | 'boolean'; short?: string; default?: boolean; multiple?: false }
>;

/** The options every command takes. */
const GLOBAL: Options = {
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
};

/**
 * The options of parseArgs from the commands' usage syntax: `--site ID` takes a value, `[--wait]` or
 * `--password-stdin)` does not. A flag that one command gives a value and another none, or one that
 * is also an option of every command (--url, --token…), is a mistake in the table and throws.
 */
export function parseOptions(commands: readonly Command[]): Options {
  const options: Options = { ...GLOBAL };
  for (const command of commands) {
    for (const [name, type] of commandOptions(command)) {
      // `channels create-webhook --url` once set the coordinator's URL instead of the webhook's.
      if (name in GLOBAL) throw new Error(`syncctl ${command.name}: --${name} is an option of every command`);
      const known = options[name];
      if (known && known.type !== type)
        throw new Error(`syncctl ${command.name}: --${name} is a ${known.type} elsewhere`);
      options[name] = type === 'string' ? { type } : { type, default: false };
    }
  }
  return options;
}

/** A command's own options from its usage syntax, each with whether it takes a value. */
function commandOptions(command: Command): [string, 'string' | 'boolean'][] {
  return [...(command.options ?? '').matchAll(/--([a-z][a-z0-9-]*)( [^[(|\s-])?/g)].map((m) => [
    m[1]!,
    m[2] ? 'string' : 'boolean',
  ]);
}

/**
 * Refuses what the command does not take: a flag of another command (parseArgs knows every
 * command's flags, so `sync --kind change` parsed) and words beyond its arguments (`sites create
 * Branch Office` unquoted created a site named Branch).
 */
export function checkCommandLine(command: Command, args: string[], flags: Record<string, unknown>): void {
  const own = new Set([...Object.keys(GLOBAL), ...commandOptions(command).map(([name]) => name)]);
  const stray = Object.keys(flags).find(
    (name) => !own.has(name) && flags[name] !== undefined && flags[name] !== false,
  );
  if (stray !== undefined) {
    throw new Error(`--${stray} is not an option of '${command.name}' (see syncctl help ${command.name})`);
  }
  const allowed = command.arguments ? command.arguments.split(' ').length : 0;
  if (args.length > allowed) {
    throw new Error(
      `'${command.name}' takes ${allowed === 0 ? 'no argument' : command.arguments}; unexpected '${args[allowed]}' (quote a value with spaces; see syncctl help ${command.name})`,
    );
  }
}

/**
 * The command line with each value that starts with a dash joined to its flag (`--sort -username`
 * as `--sort=-username`, `--limit -1` as `--limit=-1`): parseArgs takes such a value for a flag of its
 * own and refuses it as ambiguous, where docs/cli.md writes `--sort -KEY`. A word that is a flag
 * syncctl knows (`--site`, `-h`) stays a flag.
 */
export function joinDashValues(argv: readonly string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    const next = argv[i + 1];
    const name = word.startsWith('--') ? word.slice(2) : undefined;
    if (
      name !== undefined &&
      options[name]?.type === 'string' &&
      next !== undefined &&
      next.startsWith('-') &&
      next !== '-' &&
      !isKnownFlag(next, options)
    ) {
      out.push(`${word}=${next}`);
      i++;
    } else out.push(word);
  }
  return out;
}

function isKnownFlag(word: string, options: Options): boolean {
  if (word.startsWith('--')) return word.slice(2).split('=')[0]! in options;
  return Object.values(options).some((o) => o.short !== undefined && word === `-${o.short}`);
}
