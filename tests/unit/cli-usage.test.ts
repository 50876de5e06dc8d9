/**
 * syncctl's usage text comes from its command table (cli/commands/index.ts): every command is in it,
 * nothing else is, each command is found by its name, its flags are parsed, and the command list in
 * docs/cli.md is the same text (UPDATE_CLI_DOCS=1 rewrites it).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Command } from '../../cli/commands/command.js';
import { COMMANDS } from '../../cli/commands/index.js';
import { findCommand } from '../../cli/dispatch.js';
import { joinDashValues, parseOptions } from '../../cli/options.js';
import { commandLines, commandList, helpFor, usage } from '../../cli/usage.js';

const DOC = new URL('../../docs/cli.md', import.meta.url);
/** The fenced block under "## Commands" in docs/cli.md. */
const DOC_BLOCK = /(## Commands\n[\s\S]*?```text\n)([\s\S]*?)(```)/;

const fake: Command = {
  name: 'widgets frob',
  arguments: 'ID',
  options: '[--hard] [--depth N]',
  summary: 'a command only this test has',
  handler: () => Promise.resolve(0),
};

describe('syncctl usage', () => {
  it('lists every command of the table with its arguments, options and summary', () => {
    const text = usage();
    for (const c of COMMANDS) {
      const lines = commandLines(c);
      expect(text, c.name).toContain(`\n${lines.join('\n')}\n`);
      const words = [c.name, c.arguments, c.options, c.summary].filter(Boolean).join(' ');
      expect(lines.join(' ').replace(/\s+/g, ' ').trim(), c.name).toBe(words.replace(/\s+/g, ' '));
    }
  });

  it('is generated: the table in order, and around it no command line; a command added is printed', () => {
    const [before, after, ...more] = usage().split(`\n${commandList()}\n`);
    expect(more).toEqual([]);
    for (const c of COMMANDS) {
      expect(before, c.name).not.toMatch(new RegExp(`^ {2}${c.name}\\b`, 'm'));
      expect(after, c.name).not.toMatch(new RegExp(`^ {2}${c.name}\\b`, 'm'));
    }
    expect(commandList([...COMMANDS, fake])).toContain(
      '  widgets frob ID [--hard] [--depth N]     a command only this test has',
    );
  });

  it('finds every command by its name, its arguments after it', () => {
    for (const c of COMMANDS) {
      const words = [...c.name.split(' '), ...(c.arguments ? ['X'] : [])];
      expect(findCommand(words)?.command, c.name).toBe(c);
      expect(findCommand(words)?.args).toEqual(c.arguments ? ['X'] : []);
    }
    expect(findCommand(['credentials', 'frob'])).toBeUndefined();
    expect(findCommand(['summary', 'extra'])).toBeUndefined();
  });

  it('parses the flags the usage names: a value after --site, none after [--wait]', () => {
    const options = parseOptions(COMMANDS);
    for (const c of COMMANDS)
      for (const [, flag] of (c.options ?? '').matchAll(/--([a-z][a-z0-9-]*)/g))
        expect(options[flag!], `${c.name} --${flag}`).toBeDefined();
    expect(options.site?.type).toBe('string');
    expect(options.wait?.type).toBe('boolean');
    expect(options['password-stdin']?.type).toBe('boolean');
    expect(options['job-state']?.type).toBe('string');
    expect(() => parseOptions([...COMMANDS, { ...fake, options: '--wait SECONDS' }])).toThrow(
      /--wait is a boolean elsewhere/,
    );
    // A command's own --url would set the coordinator's URL instead (it once did: channels create-webhook).
    expect(() => parseOptions([...COMMANDS, { ...fake, options: '--url URL' }])).toThrow(
      /--url is an option of every command/,
    );
  });

  it('takes a value that starts with a dash for its flag (--sort -KEY), a known flag as a flag', () => {
    const options = parseOptions(COMMANDS);
    expect(joinDashValues(['credentials', 'list', '--sort', '-username', '--all'], options)).toEqual([
      'credentials',
      'list',
      '--sort=-username',
      '--all',
    ]);
    expect(joinDashValues(['runs', 'list', '--limit', '-1'], options)).toEqual([
      'runs',
      'list',
      '--limit=-1',
    ]);
    // A flag after a flag that takes a value stays a flag (parseArgs then says the value is missing).
    expect(joinDashValues(['credentials', 'list', '--site', '--all'], options)).toEqual([
      'credentials',
      'list',
      '--site',
      '--all',
    ]);
    expect(joinDashValues(['credentials', 'list', '--site', '-h'], options)).toEqual([
      'credentials',
      'list',
      '--site',
      '-h',
    ]);
    // A boolean flag takes no value: the next word is not joined.
    expect(joinDashValues(['runs', 'start', '--wait', '-x'], options)).toEqual([
      'runs',
      'start',
      '--wait',
      '-x',
    ]);
  });

  it('prints the lines of one resource or one command', () => {
    expect(helpFor(['sites'])).toContain('sites token SITE_ID');
    expect(helpFor(['sites'])).not.toContain('agents list');
    expect(helpFor(['credentials', 'get', 'some-id'])?.trim().split('\n')).toHaveLength(1);
    expect(helpFor(['nope'])).toBeUndefined();
  });

  it('docs/cli.md lists the same commands', () => {
    const doc = readFileSync(DOC, 'utf8');
    expect(doc).toMatch(DOC_BLOCK);
    const expected = `${commandList()}\n`;
    if (process.env.UPDATE_CLI_DOCS)
      writeFileSync(
        DOC,
        doc.replace(DOC_BLOCK, (_, a, _b, c) => `${a}${expected}${c}`),
      );
    else expect(DOC_BLOCK.exec(doc)![2], 'docs/cli.md: run with UPDATE_CLI_DOCS=1 to rewrite').toBe(expected);
  });
});
