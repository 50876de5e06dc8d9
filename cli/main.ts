#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ApiClient, ApiError } from './client.js';
import { runCommand, USAGE } from './commands.js';
import { loadCliConfig } from './config.js';
import { exitAfterOutput, tolerateClosedReaders } from './output.js';

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      token: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      site: { type: 'string' },
      target: { type: 'string' },
      status: { type: 'string' },
      reason: { type: 'string' },
      group: { type: 'string' },
      search: { type: 'string' },
      sort: { type: 'string' },
      state: { type: 'string' },
      name: { type: 'string' },
      kind: { type: 'string' },
      connection: { type: 'string' },
      username: { type: 'string' },
      password: { type: 'string' },
      'password-stdin': { type: 'boolean', default: false },
      'require-approval': { type: 'boolean', default: false },
      ttl: { type: 'string' },
      limit: { type: 'string' },
      cursor: { type: 'string' },
      force: { type: 'boolean', default: false },
      wait: { type: 'boolean', default: false },
      rules: { type: 'string' },
      'verify-interval': { type: 'string' },
      'rotate-interval': { type: 'string' },
      primary: { type: 'string' },
      members: { type: 'string' },
      policy: { type: 'string' },
      action: { type: 'string' },
      actor: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      object: { type: 'string' },
      'object-type': { type: 'string' },
      outcome: { type: 'string' },
      suspended: { type: 'boolean', default: false },
      'job-state': { type: 'string' },
      uses: { type: 'string' },
      all: { type: 'boolean', default: false },
      file: { type: 'string' },
      ids: { type: 'string' },
      'push-dependencies': { type: 'boolean', default: false },
    },
  });
  if (values.help || positionals.length === 0) {
    process.stdout.write(USAGE);
    return 0;
  }
  const config = loadCliConfig({ url: values.url, token: values.token });
  return runCommand(new ApiClient(config.url, config.token), positionals, values);
}

tolerateClosedReaders();
// Exits only once the output is written out: a slow reader of a pipe still gets all of it.
main().then(exitAfterOutput, (err: unknown) => {
  if (err instanceof ApiError) console.error(`syncctl: ${err.message} (${err.code}, HTTP ${err.status})`);
  else console.error(`syncctl: ${err instanceof Error ? err.message : String(err)}`);
  return exitAfterOutput(err instanceof ApiError && err.status < 500 ? 2 : 1);
});
