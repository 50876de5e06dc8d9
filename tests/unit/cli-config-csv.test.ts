/** syncctl's configuration (flags, environment, config file) and its CSV reader. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCliConfig } from '../../cli/config.js';
import { parseCsv } from '../../cli/csv.js';

const dir = mkdtempSync(join(tmpdir(), 'syncctl-unit-'));
const file = (name: string, content: string) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

describe('loadCliConfig', () => {
  const config = file(
    'config.json',
    JSON.stringify({ url: 'https://file.example:8443', token: 'file-token' }),
  );

  it('takes flags over the environment over the config file', () => {
    const env = { SYNCCTL_CONFIG: config, SYNCCTL_URL: 'https://env.example', SYNCCTL_TOKEN: 'env-token' };
    expect(loadCliConfig({ url: 'https://flag.example', token: 'flag-token' }, env)).toEqual({
      url: 'https://flag.example',
      token: 'flag-token',
      timeoutMs: 30_000,
    });
    expect(loadCliConfig({}, env)).toEqual({
      url: 'https://env.example',
      token: 'env-token',
      timeoutMs: 30_000,
    });
    expect(loadCliConfig({}, { SYNCCTL_CONFIG: config, SYNCCTL_TIMEOUT_MS: '5000' })).toEqual({
      url: 'https://file.example:8443',
      token: 'file-token',
      timeoutMs: 5000,
    });
  });

  it('defaults the URL to the local coordinator; a missing file is fine, a missing token is not', () => {
    const missing = join(dir, 'nope.json');
    expect(loadCliConfig({}, { SYNCCTL_CONFIG: missing, SYNCCTL_TOKEN: 't' })).toEqual({
      url: 'http://127.0.0.1:8080',
      token: 't',
      timeoutMs: 30_000,
    });
    expect(() => loadCliConfig({}, { SYNCCTL_CONFIG: missing })).toThrow(/no API token/);
  });

  it('refuses a config file that is not valid, naming it', () => {
    const broken = file('broken.json', '{"url": ');
    expect(() => loadCliConfig({}, { SYNCCTL_CONFIG: broken })).toThrow(broken);
    const wrong = file('wrong.json', JSON.stringify({ url: 'not a url', token: 'x' }));
    expect(() => loadCliConfig({}, { SYNCCTL_CONFIG: wrong })).toThrow(`config file ${wrong}: url: `);
    // The token in a file that is not JSON is never quoted.
    const quoted = file('quoted.json', '{"token": pwo_SECRET}');
    expect(() => loadCliConfig({}, { SYNCCTL_CONFIG: quoted })).toThrow(
      `config file ${quoted}: not valid JSON`,
    );
    expect(() => loadCliConfig({}, { SYNCCTL_CONFIG: quoted })).not.toThrow(/SECRET/);
    for (const bad of ['soon', '999', '3600001', '1e4'])
      expect(() => loadCliConfig({}, { SYNCCTL_CONFIG: config, SYNCCTL_TIMEOUT_MS: bad })).toThrow(
        /^SYNCCTL_TIMEOUT_MS: /,
      );
  });
});

describe('parseCsv', () => {
  it('reads quoted fields with commas, quotes and line breaks, CRLF, a BOM; skips blank lines', () => {
    const text = '\uFEFFtarget,username,password\r\nweb,"a, b","say ""hi"""\r\n\r\ndb,"multi\nline",x\n';
    expect(parseCsv(text)).toEqual([
      { line: 1, fields: ['target', 'username', 'password'] },
      { line: 2, fields: ['web', 'a, b', 'say "hi"'] },
      { line: 4, fields: ['db', 'multi\nline', 'x'] },
    ]);
  });

  it('keeps empty fields and a last line without a line end', () => {
    expect(parseCsv('a,,c\n,b,')).toEqual([
      { line: 1, fields: ['a', '', 'c'] },
      { line: 2, fields: ['', 'b', ''] },
    ]);
  });

  it('names the line of a quote left open', () => {
    expect(() => parseCsv('a,b\nc,"open\nstill open')).toThrow('line 2: a quoted field is never closed');
  });
});
