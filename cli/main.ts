#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ApiClient, ApiError } from './client.js';
import { str } from './commands/command.js';
import { COMMANDS } from './commands/index.js';
import { runCommand } from './dispatch.js';
import { joinDashValues, parseOptions } from './options.js';
import { helpFor, usage } from './usage.js';
import { loadCliConfig } from './config.js';
import { exitAfterOutput, tolerateClosedReaders } from './output.js';

async function main(): Promise<number> {
  const options = parseOptions(COMMANDS);
  const args = joinDashValues(process.argv.slice(2), options);
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options });
  const [first, ...rest] = positionals;
  if (first === undefined || first === 'help' || values.help) {
    const words = first === 'help' ? rest : positionals;
    const help = words.length ? helpFor(words) : usage();
    if (help === undefined) throw new Error(`unknown command '${words.join(' ')}' (see syncctl --help)`);
    process.stdout.write(help);
    return 0;
  }
  const config = loadCliConfig({ url: str(values.url), token: str(values.token) });
  return runCommand(new ApiClient(config.url, config.token, config.timeoutMs), positionals, values);
}

tolerateClosedReaders();
// Exits only once the output is written out: a slow reader of a pipe still gets all of it.
main().then(exitAfterOutput, (err: unknown) => {
  if (err instanceof ApiError) console.error(`syncctl: ${err.message} (${err.code}, HTTP ${err.status})`);
  else console.error(`syncctl: ${err instanceof Error ? err.message : String(err)}`);
  return exitAfterOutput(err instanceof ApiError && err.status < 500 ? 2 : 1);
});
