import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface Received {
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * A webhook receiver on a free port: records every request; `failFirst` requests get a 500 first.
 * `verify` checks a request's X-Signature (HMAC-SHA256 over `<timestamp>.<body>`) with a secret.
 */
export async function startWebhookReceiver(failFirst = 0): Promise<{
  url: string;
  received: Received[];
  verify: (r: Received, secret: string) => boolean;
  close: () => Promise<void>;
}> {
  const received: Received[] = [];
  let seen = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen += 1;
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.statusCode = seen <= failFirst ? 500 : 200;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    verify: (r, secret) => {
      const ts = String(r.headers['x-signature-timestamp']);
      const expected = `sha256=${createHmac('sha256', secret).update(`${ts}.${r.body}`).digest('hex')}`;
      return r.headers['x-signature'] === expected && Math.abs(Date.now() / 1000 - Number(ts)) < 300;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export interface Mail {
  from: string;
  to: string[];
  subject: string;
  text: string;
  secure: boolean;
}

/** A local SMTP server (smtp-server) offering STARTTLS with `tls` (PEM paths' contents); records every mail. */
export async function startSmtpServer(tls: { cert: Buffer; key: Buffer }): Promise<{
  port: number;
  mails: Mail[];
  close: () => Promise<void>;
}> {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    cert: tls.cert,
    key: tls.key,
    authOptional: true,
    logger: false,
    // Any login is taken (the tests check what is sent, not the server's accounts).
    onAuth(auth, _session, callback) {
      callback(null, { user: auth.username });
    },
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((m) => {
          mails.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            subject: m.subject ?? '',
            text: m.text ?? '',
            secure: session.secure,
          });
          callback();
        })
        .catch(callback);
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return { port, mails, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
