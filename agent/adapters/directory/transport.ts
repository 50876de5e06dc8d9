import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { Client } from 'ldapts';
import type { Observed } from '../../../shared/contracts/gateway.js';
import type { DirectoryConnection } from '../../../shared/targets/directory.js';
import { hostPort } from '../../../shared/targets/host.js';
import { fail, isNetworkError, textOf, withDetail, type Failure } from '../common.js';

/** OpenSSL's and Node's codes for a certificate that does not chain to the CA or name the host. */
const UNTRUSTED_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_REVOKED',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** An LDAP session whose transport is up and whose server is the pinned one; nothing bound yet. */
export interface Transport {
  client: Client;
  /** The certificate seen, when the target pinned none (trust on first use). */
  observed?: Observed;
  /** Destroys the sockets at once (abort, timeout). */
  destroy(): void;
}

export type Opened = { ok: true; transport: Transport } | { ok: false; failure: Failure };

export const where = (c: DirectoryConnection): string =>
  `${c.tls.mode === 'ldaps' ? 'ldaps' : 'ldap'}://${hostPort(c.host, c.port)}`;

/**
 * Connects and secures the transport as the connection says, checking the server's certificate
 * before anything else is sent: `ldaps` (TLS at once), `starttls` (StartTLS first), or `none`. The
 * ldapts client gets the ready socket, so no bind can reach an unchecked server. Never rejects.
 */
export async function openTransport(c: DirectoryConnection, signal: AbortSignal): Promise<Opened> {
  const sockets: Socket[] = [];
  // Outermost first: a TLS socket before the TCP socket it wraps (the other order can crash Node).
  const destroy = () => {
    for (const s of [...sockets].reverse()) s.destroy();
  };
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    destroy();
  }, c.connectTimeoutMs);
  const onAbort = () => destroy();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    if (signal.aborted) return { ok: false, failure: fail('unreachable', 'aborted before connecting') };
    const plain = await tcp(c, sockets);
    let secured: TLSSocket | undefined;
    let client: Client;
    if (c.tls.mode === 'ldaps') {
      secured = await handshake(c, { socket: plain }, sockets);
      const ready = secured;
      client = newClient(c, { createSecureConnection: (() => ready) as unknown as typeof tlsConnect });
    } else {
      client = newClient(c, { createConnection: (() => plain) as unknown as typeof netConnect });
      if (c.tls.mode === 'starttls') {
        await client.startTLS().catch((err: unknown) => {
          throw new StartTlsError(err);
        });
        // ldapts upgraded through createSecureConnection below; find the TLS socket it made.
        secured = sockets.find((s): s is TLSSocket => 'encrypted' in s);
        if (!secured) throw new Error('StartTLS did not produce a TLS socket');
      }
    }
    const checked = secured ? checkPin(c, secured) : { ok: true as const };
    if (!checked.ok) {
      destroy();
      return { ok: false, failure: checked.failure };
    }
    const transport: Transport = { client, destroy };
    if (checked.observed) transport.observed = checked.observed;
    return { ok: true, transport };
  } catch (err) {
    destroy();
    if (signal.aborted)
      return { ok: false, failure: fail('unreachable', `connection to ${where(c)} aborted`) };
    if (timedOut) {
      return {
        ok: false,
        failure: fail(
          'unreachable',
          `no secure LDAP connection to ${where(c)} within ${c.connectTimeoutMs} ms`,
        ),
      };
    }
    return { ok: false, failure: transportFailure(c, err) };
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  }

  function newClient(
    conn: DirectoryConnection,
    hooks: { createConnection?: typeof netConnect; createSecureConnection?: typeof tlsConnect },
  ): Client {
    const client = new Client({
      url: `${conn.tls.mode === 'ldaps' ? 'ldaps' : 'ldap'}://${hostPort(conn.host, conn.port)}`,
      timeout: conn.operationTimeoutMs,
      connectTimeout: conn.connectTimeoutMs,
      // Bind names may be UPNs or DOMAIN\user: not DNs.
      strictDN: false,
      // StartTLS: ldapts hands over the plain socket; the handshake applies this target's trust.
      createSecureConnection: ((options: ConnectionOptions) => {
        const s = tlsConnect({ ...options, ...trustOptions(conn) });
        sockets.push(s);
        return s;
      }) as typeof tlsConnect,
      ...hooks,
    });
    return client;
  }
}

class StartTlsError extends Error {
  constructor(override readonly cause: unknown) {
    super(textOf(cause));
  }
}

function tcp(c: DirectoryConnection, sockets: Socket[]): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: c.host, port: c.port });
    sockets.push(s);
    s.once('connect', () => {
      s.removeAllListeners('error');
      // ldapts adds its own error handler; until then an error must not crash the process.
      s.on('error', () => undefined);
      resolve(s);
    });
    s.once('error', reject);
    s.once('close', () => reject(new Error('connection closed')));
  });
}

/** With a CA: the chain and the host name are checked by TLS itself. Without: the pin decides. */
function trustOptions(c: DirectoryConnection): ConnectionOptions {
  return {
    ...(isIP(c.host) === 0 ? { servername: c.host } : {}),
    host: c.host,
    rejectUnauthorized: c.tls.ca !== undefined,
    ...(c.tls.ca !== undefined ? { ca: c.tls.ca } : {}),
  };
}

function handshake(c: DirectoryConnection, base: ConnectionOptions, sockets: Socket[]): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ ...base, ...trustOptions(c) });
    sockets.push(s);
    s.once('secureConnect', () => {
      s.removeAllListeners('error');
      s.on('error', () => undefined);
      resolve(s);
    });
    s.once('error', reject);
    s.once('close', () => reject(new Error('connection closed during the TLS handshake')));
  });
}

type Checked = { ok: true; observed?: Observed } | { ok: false; failure: Failure };

/** The certificate against `certificateSha256`; recorded when nothing pins the server yet. */
function checkPin(c: DirectoryConnection, s: TLSSocket): Checked {
  const cert = s.getPeerCertificate();
  const seen = typeof cert?.fingerprint256 === 'string' ? cert.fingerprint256.toUpperCase() : undefined;
  if (seen === undefined)
    return { ok: false, failure: fail('error', `${where(c)} presented no certificate`) };
  const pinned = c.tls.certificateSha256;
  if (pinned !== undefined && pinned !== seen) {
    const failure = withDetail(
      fail('error', `TLS certificate of ${where(c)} changed: expected ${pinned}, got ${seen}`),
      'tls_certificate_changed',
    );
    return { ok: false, failure: { ...failure, observed: { tlsCertificateSha256: seen } } };
  }
  if (pinned === undefined && c.tls.ca === undefined)
    return { ok: true, observed: { tlsCertificateSha256: seen } };
  return { ok: true };
}

function transportFailure(c: DirectoryConnection, err: unknown): Failure {
  const startTls = err instanceof StartTlsError;
  const cause = startTls ? err.cause : err;
  const code = (cause as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && UNTRUSTED_CODES.has(code)) {
    return withDetail(
      fail('error', `TLS: the certificate of ${where(c)} is not trusted: ${textOf(cause)}`),
      'tls_untrusted',
    );
  }
  if (isNetworkError(cause) || /connection closed/i.test(textOf(cause))) {
    return fail(
      'unreachable',
      `cannot reach ${where(c)}: ${typeof code === 'string' ? code : textOf(cause)}`,
    );
  }
  if (startTls) return fail('error', `${where(c)} refused StartTLS: ${textOf(cause)}`);
  return fail('error', `cannot open a secure connection to ${where(c)}: ${textOf(cause)}`);
}
