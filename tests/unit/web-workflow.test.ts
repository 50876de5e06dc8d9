import { describe, expect, it } from 'vitest';
import { SyncError } from '../../shared/errors.js';
import { capabilitiesOf, parseConnection, targetSpec } from '../../shared/targets/index.js';
import { WebConnectionSchema, webHost } from '../../shared/targets/web.js';
import { loginSiteConnection } from '../support/login-site.js';

const full = () => loginSiteConnection('http://127.0.0.1:8080');

/** The `field` of each issue parseConnection reports for `connection`. */
function fieldsOf(connection: unknown): string[] {
  try {
    parseConnection('web', connection);
  } catch (err) {
    expect(err).toBeInstanceOf(SyncError);
    return ((err as SyncError).issues ?? []).map((i) => i.field);
  }
  throw new Error('expected the connection to be refused');
}

describe('web connection schema', () => {
  it('accepts the documented example and applies defaults', () => {
    const c = WebConnectionSchema.parse({ ...full(), timeoutMs: undefined });
    expect(c.timeoutMs).toBe(15_000);
    expect(c.tls).toEqual({ rejectUnauthorized: true });
    expect(c.login.steps[0]).toMatchObject({ method: 'GET', followRedirects: false });
    expect(c.login.steps[0]?.extract?.[0]?.required).toBe(true);
  });

  it('names the field path of a bad workflow', () => {
    const bad = full();
    (bad.change.steps[1] as { url: unknown }).url = 42;
    expect(fieldsOf(bad)).toEqual(['connection.change.steps.1.url']);
  });

  it('refuses unknown placeholders, with their path', () => {
    const bad = full();
    bad.change.steps[1]!.form!.new = '{{newpassword}}';
    expect(fieldsOf(bad)).toEqual(['connection.change.steps.1.form.new']);
    const json = full();
    Object.assign(json.login.steps[1]!, { form: undefined, json: { user: { name: '{{user}}' } } });
    expect(fieldsOf(json)).toEqual(['connection.login.steps.1.json.user.name']);
  });

  it('{{newPassword}} only in the change workflow', () => {
    const bad = full();
    bad.login.steps[1]!.form!.password = '{{newPassword}}';
    expect(fieldsOf(bad)).toEqual(['connection.login.steps.1.form.password']);
  });

  it('a variable must be extracted by an earlier step (of the same workflow or of login)', () => {
    const bad = full();
    bad.login.steps[1]!.form!.csrf = '{{vars.changeCsrf}}';
    expect(fieldsOf(bad)).toEqual(['connection.login.steps.1.form.csrf']);
    // login's variables reach verify and change
    const ok = full();
    ok.verify.steps[0]!.url = '/home?t={{vars.csrf}}';
    expect(() => parseConnection('web', ok)).not.toThrow();
  });

  it('checks regular expressions, extraction sources, step names, bodies, baseUrl', () => {
    const badRegex = full();
    badRegex.login.steps[1]!.failWhen![0]!.bodyMatches = '(unclosed';
    expect(fieldsOf(badRegex)).toEqual(['connection.login.steps.1.failWhen.0.bodyMatches']);

    const twoWays = full();
    Object.assign(twoWays.login.steps[0]!.extract![0]!, { regex: 'x(.)' });
    expect(fieldsOf(twoWays)).toEqual(['connection.login.steps.0.extract.0']);

    const headerWithoutName = full();
    headerWithoutName.login.steps[0]!.extract = [{ name: 'csrf', from: 'header' }] as never;
    expect(fieldsOf(headerWithoutName)).toEqual(['connection.login.steps.0.extract.0.header']);

    const dup = full();
    dup.login.steps[1]!.name = 'login-page';
    expect(fieldsOf(dup)).toEqual(['connection.login.steps.1.name']);

    const getWithBody = full();
    getWithBody.login.steps[1]!.method = 'GET';
    expect(fieldsOf(getWithBody)).toEqual(['connection.login.steps.1.method']);

    const emptyExpect = full();
    emptyExpect.verify.steps[0]!.expect = [{}] as never;
    expect(fieldsOf(emptyExpect)).toEqual(['connection.verify.steps.0.expect.0']);

    const badReason = full();
    (badReason.login.steps[1]!.failWhen![0] as { reason: string }).reason = 'unreachable';
    expect(fieldsOf(badReason)).toEqual(['connection.login.steps.1.failWhen.0.reason']);

    expect(fieldsOf({ ...full(), baseUrl: 'ftp://example.com' })).toEqual(['connection.baseUrl']);
    expect(fieldsOf({ ...full(), login: { steps: [] } })).toEqual(['connection.login.steps']);
    expect(fieldsOf({ ...full(), extra: 1 })).toEqual(['connection']);
  });

  it('never echoes a rejected value', () => {
    const bad = full();
    bad.login.steps[1]!.form!.password = '{{s3cr3t-value}}';
    try {
      parseConnection('web', bad);
      expect.unreachable();
    } catch (err) {
      expect(JSON.stringify((err as SyncError).toJSON())).not.toContain('s3cr3t');
    }
  });
});

describe('web capabilities and host', () => {
  it('login + verify + change using {{newPassword}}: everything', () => {
    expect(capabilitiesOf('web', full())).toEqual({ verify: true, change: true, changeConfigured: true });
  });

  it('an edited connection gets its own answer, an equal one the same answer, and an invalid one still throws', () => {
    const c = full();
    const first = capabilitiesOf('web', c);
    expect(capabilitiesOf('web', structuredClone(c))).toBe(first); // worked out once per connection text
    c.change.steps[1]!.form = { csrf: '{{vars.changeCsrf}}', current: '{{password}}', new: '', confirm: '' };
    expect(capabilitiesOf('web', c).changeConfigured).toBe(false);
    expect(capabilitiesOf('simulated', { host: 'h', canChange: false }).change).toBe(false);
    expect(capabilitiesOf('simulated', { host: 'h' }).change).toBe(true);
    expect(() => capabilitiesOf('web', { baseUrl: 'not a url' })).toThrow();
    expect(() => capabilitiesOf('web', { baseUrl: 'not a url' })).toThrow();
  });

  it('only a login workflow: neither verify nor change (unsyncable)', () => {
    const { baseUrl, login } = full();
    expect(capabilitiesOf('web', { baseUrl, login })).toEqual({
      verify: false,
      change: false,
      changeConfigured: false,
    });
  });

  it('a change workflow without {{newPassword}} is not configured', () => {
    const c = full();
    c.change.steps[1]!.form = { csrf: '{{vars.changeCsrf}}', current: '{{password}}', new: '', confirm: '' };
    expect(capabilitiesOf('web', c)).toEqual({ verify: true, change: true, changeConfigured: false });
  });

  it('{{newPassword}} in a header or a JSON body counts too', () => {
    const c = full();
    c.change.steps[1]!.form = { csrf: '{{vars.changeCsrf}}' } as never;
    Object.assign(c.change.steps[1]!, { headers: { 'x-new': '{{ newPassword }}' } });
    expect(capabilitiesOf('web', c).changeConfigured).toBe(true);
  });

  it('host is host:port of the base URL', () => {
    expect(webHost('https://login.example.com/app/')).toBe('login.example.com:443');
    expect(webHost('http://Example.com')).toBe('example.com:80');
    expect(webHost('http://127.0.0.1:8080/x')).toBe('127.0.0.1:8080');
    expect(targetSpec('web').host(WebConnectionSchema.parse(full()))).toBe('127.0.0.1:8080');
  });
});
