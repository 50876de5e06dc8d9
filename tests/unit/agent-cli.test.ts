import { describe, expect, it } from 'vitest';
import { parseCommand, UsageError } from '../../agent/cli/args.js';
import { parseEnvFile, setEnvValues } from '../../agent/env-file.js';

describe('sync-agent command line', () => {
  it('no arguments, or only --config, runs the agent as before', () => {
    expect(parseCommand([])).toEqual({ name: 'run', config: undefined });
    expect(parseCommand(['--config', '/etc/x.env'])).toEqual({ name: 'run', config: '/etc/x.env' });
    expect(parseCommand(['run'])).toEqual({ name: 'run', config: undefined });
  });

  it('-h and --help print the help (-h was an unknown command), --version the version', () => {
    expect(parseCommand(['-h'])).toEqual({ name: 'help' });
    expect(parseCommand(['--help'])).toEqual({ name: 'help' });
    expect(parseCommand(['--version'])).toEqual({ name: 'version' });
  });

  it('enroll needs --url and --token; --timeout is whole seconds', () => {
    expect(parseCommand(['enroll', '--url', 'https://c', '--token', 'pwe_x', '--name', 'n'])).toEqual({
      name: 'enroll',
      config: undefined,
      url: 'https://c',
      token: 'pwe_x',
      ca: undefined,
      agentName: 'n',
      timeoutMs: 30_000,
    });
    expect(() => parseCommand(['enroll', '--token', 'pwe_x'])).toThrow(/--url is required/);
    expect(() => parseCommand(['enroll', '--url', 'https://c'])).toThrow(/--token is required/);
    expect(() => parseCommand(['enroll', '--url', 'u', '--token', 't', '--timeout', 'soon'])).toThrow(
      /--timeout/,
    );
  });

  it.each([
    [['bogus'], /unknown command 'bogus'/],
    [['doctor', '--verbose'], /--verbose/],
    [['run', 'extra'], /unexpected argument 'extra'/],
  ])('%j is a usage error', (argv, message) => {
    expect(() => parseCommand(argv)).toThrow(UsageError);
    expect(() => parseCommand(argv)).toThrow(message);
  });
});

describe('configuration file (systemd EnvironmentFile lines)', () => {
  it('reads NAME=value lines, comments, blank lines and quoted values', () => {
    const text = [
      '# a comment',
      '; another',
      '',
      'COORDINATOR_URL=https://sync.example.com',
      '  AGENT_NAME = "dc 1 \\"east\\"" ',
      "LOG_LEVEL='debug'",
      'EMPTY=',
    ].join('\n');
    expect(parseEnvFile(text)).toEqual({
      COORDINATOR_URL: 'https://sync.example.com',
      AGENT_NAME: 'dc 1 "east"',
      LOG_LEVEL: 'debug',
      EMPTY: '',
    });
  });

  it.each([
    ['NOT A LINE', /agent\.env line 2: expected NAME=value/],
    ['A="open', /line 2: a " without its closing "/],
    ['A=one \\', /line 2: continued lines/],
  ])('%j: an error naming the line', (line, message) => {
    expect(() => parseEnvFile(`OK=1\n${line}\n`, '/etc/agent.env')).toThrow(message);
  });

  it('sets values in place, appends new ones, removes undefined ones, keeps comments', () => {
    const before = [
      '# settings',
      '#COORDINATOR_URL=https://example',
      'AGENT_NAME=old',
      'ENROLLMENT_TOKEN=pwe_used',
      '',
    ].join('\n');
    const after = setEnvValues(before, {
      AGENT_NAME: 'new name',
      COORDINATOR_URL: 'https://sync.example.com:8443/base',
      ENROLLMENT_TOKEN: undefined,
    });
    expect(after).toBe(
      [
        '# settings',
        '#COORDINATOR_URL=https://example',
        'AGENT_NAME="new name"',
        'COORDINATOR_URL=https://sync.example.com:8443/base',
        '',
      ].join('\n'),
    );
    expect(parseEnvFile(after)).toEqual({
      AGENT_NAME: 'new name',
      COORDINATOR_URL: 'https://sync.example.com:8443/base',
    });
  });
});
