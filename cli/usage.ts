import type { Command } from './commands/command.js';
import { COMMANDS } from './commands/index.js';

const WIDTH = 110;
/** Where a command's summary starts. */
const SUMMARY_COLUMN = 43;

const HEADER = `syncctl: operate the password sync coordinator

  syncctl [--url URL] [--token TOKEN] [--json] COMMAND
  syncctl help [COMMAND]                   this text, or the lines of one command (also: COMMAND --help)
`;

const FOOTER = `
  Lists print one page and the --cursor of the next; --all follows every page.
  The token comes from --token, SYNCCTL_TOKEN or the config file (SYNCCTL_CONFIG,
  default ~/.config/syncctl/config.json: {"url": "…", "token": "…"}); the URL from --url,
  SYNCCTL_URL or the file, else http://127.0.0.1:8080. Exports write CSV unless --format json
  or --json. Exit codes: 0 ok, 1 usage, network or server (5xx) error, 2 refused by the API (4xx),
  3 the work ended with failures (sync --wait, runs start --wait, sites resync --wait, groups
  change --wait, import, credentials bulk, a channels test not delivered, a targets try-login
  whose login failed).
`;

/** Words of usage syntax, a bracketed group (`[--status S]`, `(--password P | --password-stdin)`) as one. */
function syntaxWords(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let depth = 0;
  for (const ch of text) {
    if (ch === ' ' && depth === 0) {
      if (word) words.push(word);
      word = '';
      continue;
    }
    if (ch === '[' || ch === '(') depth++;
    if (ch === ']' || ch === ')') depth--;
    word += ch;
  }
  if (word) words.push(word);
  return words;
}

/** Fills lines up to WIDTH: the first starts at `first` characters in, the others at `indent`. */
function fill(words: string[], indent: number, first = indent): string[] {
  const lines: string[] = [];
  let line = '';
  let start = first;
  for (const word of words) {
    if (line && start + line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = '';
      start = indent;
    }
    line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  return lines;
}

/** A command's lines: its synopsis (wrapped under its arguments) and its summary from SUMMARY_COLUMN. */
export function commandLines(command: Command): string[] {
  const synopsis = [command.name, command.arguments, command.options].filter(Boolean).join(' ');
  const lines = fill(syntaxWords(synopsis), 3 + command.name.length, 2).map((l, i) =>
    i === 0 ? `  ${l}` : `${' '.repeat(3 + command.name.length)}${l}`,
  );
  const last = lines.length - 1;
  const sameLine = lines[last]!.length + 2 <= SUMMARY_COLUMN;
  const summary = fill(command.summary.split(' '), SUMMARY_COLUMN).map((l) => ' '.repeat(SUMMARY_COLUMN) + l);
  if (sameLine) lines[last] = lines[last]!.padEnd(SUMMARY_COLUMN) + summary.shift()!.trimStart();
  return [...lines, ...summary];
}

/** Every command, a block of lines each: the command list of the usage text and of docs/cli.md. */
export const commandList = (commands: readonly Command[] = COMMANDS): string =>
  commands.flatMap(commandLines).join('\n');

/** The whole usage text (`syncctl help`, `syncctl --help`). */
export const usage = (): string => `${HEADER}\n${commandList()}\n${FOOTER}`;

/**
 * `syncctl help sites`, `syncctl credentials get --help`: the lines of the commands the words name
 * (all of a resource, or the one command), or undefined when they name none.
 */
export function helpFor(words: string[]): string | undefined {
  const matches = COMMANDS.filter((c) => {
    const name = c.name.split(' ');
    return words.slice(0, name.length).every((w, i) => w === name[i]);
  });
  return matches.length ? `${commandList(matches)}\n` : undefined;
}
