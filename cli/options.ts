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
    for (const m of (command.options ?? '').matchAll(/--([a-z][a-z0-9-]*)( [^[(|\s-])?/g)) {
      const name = m[1]!;
      // `channels create-webhook --url` once set the coordinator's URL instead of the webhook's.
      if (name in GLOBAL) throw new Error(`syncctl ${command.name}: --${name} is an option of every command`);
      const type = m[2] ? 'string' : 'boolean';
      const known = options[name];
      if (known && known.type !== type)
        throw new Error(`syncctl ${command.name}: --${name} is a ${known.type} elsewhere`);
      options[name] = type === 'string' ? { type } : { type, default: false };
    }
  }
  return options;
}
