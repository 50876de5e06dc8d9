/**
 * The command table: every `syncctl` command, in the order the usage text lists them. A new command
 * is a `Command` (./command.ts) in the file of its resource; a new resource is a new file here plus
 * one line below. The usage text (../usage.ts), the option parser (../options.ts) and the command
 * list in docs/cli.md all come from this table.
 */
import { agentCommands } from './agents.js';
import { auditCommands } from './audit.js';
import { channelCommands } from './channels.js';
import type { Command } from './command.js';
import { credentialCommands } from './credentials.js';
import { dependencyCommands } from './dependencies.js';
import { exportCommands } from './exports.js';
import { groupCommands } from './groups.js';
import { importCommands } from './import.js';
import { overviewCommands } from './overview.js';
import { policyCommands } from './policies.js';
import { runCommands } from './runs.js';
import { siteCommands } from './sites.js';
import { targetCommands } from './targets.js';
import { tokenCommands } from './tokens.js';

export const COMMANDS: readonly Command[] = [
  ...overviewCommands,
  ...siteCommands,
  ...agentCommands,
  ...targetCommands,
  ...credentialCommands,
  ...dependencyCommands,
  ...runCommands,
  ...policyCommands,
  ...groupCommands,
  ...auditCommands,
  ...channelCommands,
  ...tokenCommands,
  ...importCommands,
  ...exportCommands,
];
