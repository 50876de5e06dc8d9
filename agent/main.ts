#!/usr/bin/env node
/**
 * sync-agent: `run` (the default: the agent process, settings from the environment), `enroll`,
 * `doctor`, `version`. See cli/args.ts for the command line.
 */
import { VERSION } from '../shared/version.js';
import { parseCommand, USAGE, UsageError, type Command } from './cli/args.js';
import { doctor } from './cli/doctor.js';
import { enroll } from './cli/enroll.js';
import { describe, fail, say } from './cli/output.js';
import { runAgent } from './cli/run.js';
import { loadSettings } from './cli/settings.js';

let command: Command;
try {
  command = parseCommand(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  fail(`${err.message}\n\n${USAGE}`, 2);
}

try {
  switch (command.name) {
    case 'help':
      say(USAGE);
      break;
    case 'version':
      say(VERSION);
      break;
    case 'run':
      await runAgent((await loadSettings(command.config)).env);
      break;
    case 'enroll':
      process.exitCode = await enroll(command, process.env);
      break;
    case 'doctor':
      process.exitCode = await doctor(command, process.env);
      break;
  }
} catch (err) {
  fail(describe(err));
}
