/**
 * `syncctl channels …` (docs/cli.md, docs/alerts.md) from the real binary against a real coordinator
 * and agent: a webhook channel (its signing secret printed once) and an e-mail channel (the SMTP
 * password read from stdin, never printed); bad configuration refused naming the field; list and get
 * as tables and JSON; a test alert to each, received (the webhook's signature verified, the mail over
 * STARTTLS); the delivery history in pages (--limit, --cursor, --all); a test to a receiver that is
 * down exits 3; rotate-secret, disable / enable, delete. About 30 syncctl runs: a generous bound.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChannelView, DeliveryView } from '../../shared/contracts/alerts.js';
import { startStack, type Stack } from '../browser/stack.js';
import { startSmtpServer, startWebhookReceiver } from '../support/alert-receivers.js';
import { ADMIN_TOKEN } from '../support/coordinator.js';
import { runCli } from '../support/processes.js';
import { createPki } from '../support/tls.js';

const pki = createPki();
const smtpCert = pki.issue('smtp', 'server');
const SMTP_PASSWORD = `Smtp-Canary-${Date.now()}`;
let stack: Stack;
let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
let smtp: Awaited<ReturnType<typeof startSmtpServer>>;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  smtp = await startSmtpServer({ cert: pki.pem(smtpCert.cert), key: pki.pem(smtpCert.key) });
  stack = await startStack('cli-channels', { ALERT_SMTP_CA_FILE: pki.caCert });
}, 120_000);

afterAll(async () => {
  await stack?.close();
  await receiver?.close();
  await smtp?.close();
});

const cli = (args: string[], input?: string) =>
  runCli(['--url', stack.coordinator.url, '--token', ADMIN_TOKEN, ...args], {}, 60_000, undefined, input);
/** Runs syncctl, insists on `code` (0), and parses its --json output. */
async function json<T>(args: string[], input?: string): Promise<T> {
  const r = await cli(['--json', ...args], input);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout) as T;
}
async function ok(...args: string[]): Promise<string> {
  const r = await cli(args);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

type Page = { items: DeliveryView[]; nextCursor: string | null };

describe('syncctl channels', () => {
  it('create, list, get, test, deliveries, rotate-secret, disable / enable, delete', async () => {
    // Bad configuration: a 400 naming the field, nothing created.
    const noHttp = await cli([
      'channels',
      'create-webhook',
      '--name',
      'bad',
      '--webhook-url',
      'ftp://example.com/x',
    ]);
    expect(noHttp.code).not.toBe(0);
    expect(noHttp.stderr).toContain('body.webhook.url');
    const badPort = await cli([
      'channels',
      'create-email',
      '--name',
      'bad',
      '--host',
      '127.0.0.1',
      '--port',
      '70000',
      '--from',
      'sync@example.com',
      '--to',
      'oncall@example.com',
    ]);
    expect(badPort.code).not.toBe(0);
    expect(badPort.stderr).toContain('body.email.port');

    // A webhook: its secret printed once, in the table output too.
    const created = await cli([
      'channels',
      'create-webhook',
      '--name',
      'ops-hook',
      '--webhook-url',
      receiver.url,
      '--events',
      'test,agent.offline',
    ]);
    expect(created.code, created.stderr).toBe(0);
    const secret = /signing secret \(shown once\): (whsec_\S+)/.exec(created.stdout)?.[1];
    expect(secret).toBeDefined();
    expect(created.stdout).toContain('ops-hook');
    // An e-mail channel: the password from stdin, sealed, never printed.
    const mail = await json<ChannelView>(
      [
        'channels',
        'create-email',
        '--name',
        'ops-mail',
        '--host',
        '127.0.0.1',
        '--port',
        String(smtp.port),
        '--from',
        'sync@example.com',
        '--to',
        'oncall@example.com,backup@example.com',
        '--username',
        'sync',
        '--password-stdin',
        '--events',
        'test',
      ],
      `${SMTP_PASSWORD}\n`,
    );
    expect(mail.email).toMatchObject({
      security: 'starttls',
      username: 'sync',
      hasPassword: true,
      to: ['oncall@example.com', 'backup@example.com'],
    });

    const list = await json<{ items: ChannelView[] }>(['channels', 'list']);
    expect(list.items.map((c) => c.name).sort()).toEqual(['ops-hook', 'ops-mail']);
    const hook = list.items.find((c) => c.name === 'ops-hook')!;
    expect(hook.filter.eventTypes).toEqual(['test', 'agent.offline']);
    const table = await ok('channels', 'list');
    expect(table).toContain(`${receiver.url} (json)`);
    expect(table).toContain('oncall@example.com,backup@example.com via 127.0.0.1');
    const one = await ok('channels', 'get', hook.id);
    expect(one).toContain('ops-hook');
    expect(one).not.toContain('whsec_');
    expect(JSON.stringify(list) + table + one).not.toContain(SMTP_PASSWORD);

    // A test alert to each: received, the webhook signed with the secret, the mail over STARTTLS.
    const sent = await json<DeliveryView>(['channels', 'test', hook.id]);
    expect(sent).toMatchObject({ type: 'test', state: 'sent', lastStatus: 200 });
    expect(receiver.received).toHaveLength(1);
    expect(receiver.verify(receiver.received[0]!, secret!)).toBe(true);
    expect(await ok('channels', 'test', mail.id)).toContain('sent');
    expect(smtp.mails).toHaveLength(1);
    expect(smtp.mails[0]).toMatchObject({ to: ['oncall@example.com', 'backup@example.com'], secure: true });
    expect(smtp.mails[0]!.subject).toContain('Test alert for channel ops-mail');

    // The history in pages, newest first.
    await ok('channels', 'test', hook.id);
    const first = await json<Page>(['channels', 'deliveries', hook.id, '--limit', '1']);
    expect(first.items).toHaveLength(1);
    expect(first.nextCursor).not.toBeNull();
    const second = await json<Page>([
      'channels',
      'deliveries',
      hook.id,
      '--limit',
      '1',
      '--cursor',
      first.nextCursor!,
    ]);
    expect(second.items).toHaveLength(1);
    expect(second.items[0]!.id).toBe(sent.id);
    const all = await json<Page>(['channels', 'deliveries', hook.id, '--limit', '1', '--all']);
    expect(all.items.map((d) => d.id)).toEqual([first.items[0]!.id, sent.id]);
    expect(all.nextCursor).toBeNull();
    const paged = await ok('channels', 'deliveries', hook.id, '--limit', '1');
    expect(paged).toContain(`more: --cursor ${first.nextCursor}`);
    expect((await json<Page>(['channels', 'deliveries', hook.id, '--state', 'failed'])).items).toEqual([]);

    // A new secret: printed once, the next request signed with it.
    const rotated = await cli(['channels', 'rotate-secret', hook.id]);
    expect(rotated.code, rotated.stderr).toBe(0);
    const newSecret = /signing secret \(shown once\): (whsec_\S+)/.exec(rotated.stdout)?.[1];
    expect(newSecret).toBeDefined();
    expect(newSecret).not.toBe(secret);
    await ok('channels', 'test', hook.id);
    expect(receiver.verify(receiver.received.at(-1)!, newSecret!)).toBe(true);
    expect(receiver.verify(receiver.received.at(-1)!, secret!)).toBe(false);

    expect((await json<ChannelView>(['channels', 'disable', hook.id])).enabled).toBe(false);
    expect((await json<ChannelView>(['channels', 'enable', hook.id])).enabled).toBe(true);

    // A receiver that is down: the test's delivery is retrying, and syncctl exits 3.
    const down = await json<ChannelView>([
      'channels',
      'create-webhook',
      '--name',
      'down-hook',
      '--webhook-url',
      'http://127.0.0.1:9/hook',
    ]);
    const failed = await cli(['--json', 'channels', 'test', down.id]);
    expect(failed.code).toBe(3);
    expect(JSON.parse(failed.stdout)).toMatchObject({ type: 'test', state: 'retrying', lastStatus: null });

    for (const c of [hook, mail, down]) expect(await ok('channels', 'delete', c.id)).toContain('deleted');
    expect((await json<{ items: ChannelView[] }>(['channels', 'list'])).items).toEqual([]);
    const gone = await cli(['channels', 'get', hook.id]);
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toMatch(/not found/i);
  }, 300_000);
});
