import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { connect, createSecureContext, type PeerCertificate } from 'node:tls';
import { Agent as Dispatcher, request } from 'undici';
import type { TlsMaterial } from '../http.js';
import { ok, problem, skipped, warn, type Finding } from './finding.js';

/** Beyond this, Kerberos / Active Directory refuse logins and fresh certificates look not yet valid. */
export const CLOCK_SKEW_FAIL_MS = 5 * 60_000;
export const CLOCK_SKEW_WARN_MS = 5_000;
/** A certificate that ends sooner than this is worth a warning. */
const EXPIRY_WARN_MS = 14 * 86_400_000;

const daysText = (days: number): string => `${days} day${days === 1 ? '' : 's'}`;

const TRUST_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_CHAIN_TOO_LONG',
]);

/** The first `code` on the error or its causes (undici wraps socket and TLS errors). */
function codeOf(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown; name?: unknown } | undefined; e;) {
    if (typeof e.code === 'string') return e.code;
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'TIMEOUT';
    e = e.cause as typeof e;
  }
  return undefined;
}

interface Target {
  url: URL;
  host: string;
  port: number;
  https: boolean;
}

function targetOf(coordinatorUrl: string): Target {
  const url = new URL(coordinatorUrl);
  const https = url.protocol === 'https:';
  return {
    url,
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : https ? 443 : 80,
    https,
  };
}

const isLoopback = (host: string): boolean =>
  host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));

/** What a failed connection means, as a finding (TLS failures under "TLS trust"). */
function connectionProblem(t: Target, err: unknown, hasCa: boolean, timeoutMs: number): Finding {
  const code = codeOf(err) ?? 'error';
  const where = `${t.host}:${t.port}`;
  const urlFix = 'check COORDINATOR_URL';
  if (TRUST_CODES.has(code)) {
    return problem(
      'TLS trust',
      `the certificate of ${where} is not signed by a CA this agent trusts (${code})`,
      hasCa
        ? 'AGENT_TLS_CA_FILE names a CA that did not sign it: point it at the CA certificate (PEM) that signed the coordinator certificate'
        : "set AGENT_TLS_CA_FILE to the CA certificate (PEM) that signed the coordinator's certificate",
    );
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return problem(
      'TLS trust',
      `the certificate of ${where} does not name ${t.host}`,
      'use a host name the certificate names in COORDINATOR_URL (or have the certificate reissued with this name)',
    );
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return problem(
      'TLS trust',
      `the certificate of ${where} is ${code === 'CERT_HAS_EXPIRED' ? 'expired' : 'not valid yet'} by this machine's clock`,
      "check this machine's date (timedatectl); if it is right, the coordinator needs a new certificate",
    );
  }
  if (
    code === 'ERR_SSL_WRONG_VERSION_NUMBER' ||
    code === 'EPROTO' ||
    code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG'
  ) {
    return problem(
      'coordinator',
      `${where} does not speak TLS (${code})`,
      'the port serves plain HTTP: use http:// in COORDINATOR_URL, or the coordinator’s TLS port',
    );
  }
  const known: Record<string, [string, string]> = {
    ENOTFOUND: [`cannot resolve ${t.host}`, `${urlFix} and this machine's DNS (/etc/resolv.conf)`],
    EAI_AGAIN: [
      `cannot resolve ${t.host} now (DNS did not answer)`,
      "check this machine's DNS (/etc/resolv.conf)",
    ],
    ECONNREFUSED: [
      `nothing accepts connections at ${where}`,
      `${urlFix} (host and port), that the coordinator runs, and firewalls between`,
    ],
    EHOSTUNREACH: [`no route to ${t.host}`, "check this machine's network and routes to the coordinator"],
    ENETUNREACH: [
      `no network route to ${t.host}`,
      "check this machine's network and routes to the coordinator",
    ],
    ECONNRESET: [
      `${where} closed the connection`,
      `${urlFix}: a proxy or firewall may cut it, or the port speaks TLS (use https://)`,
    ],
    UND_ERR_SOCKET: [
      `${where} closed the connection`,
      `${urlFix}: a proxy or firewall may cut it, or the port speaks TLS (use https://)`,
    ],
    TIMEOUT: [
      `no answer from ${where} within ${timeoutMs} ms`,
      'a firewall or proxy may drop the traffic: the agent needs outbound connections to the coordinator',
    ],
  };
  const timeoutCode = code.startsWith('UND_ERR_') && code.endsWith('TIMEOUT') ? 'TIMEOUT' : code;
  const [detail, fix] = known[timeoutCode === 'ETIMEDOUT' ? 'TIMEOUT' : timeoutCode] ?? [
    `cannot reach ${where} (${code}: ${(err as Error).message})`,
    urlFix,
  ];
  return problem('coordinator', detail, fix);
}

/** The certificate the coordinator shows, verified as the agent verifies it. */
function peerCertificate(
  t: Target,
  tls: TlsMaterial | undefined,
  timeoutMs: number,
): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: t.host,
      port: t.port,
      ...(isIP(t.host) ? {} : { servername: t.host }),
      ...tls,
      timeout: timeoutMs,
    });
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate();
      socket.destroy();
      resolve(cert);
    });
    socket.once('timeout', () => socket.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    socket.once('error', reject);
  });
}

function clientCertificate(tls: TlsMaterial | undefined, now: number): Finding | undefined {
  if (!tls?.cert || !tls.key) return undefined;
  const check = 'TLS client certificate';
  try {
    createSecureContext({ cert: tls.cert, key: tls.key });
  } catch (err) {
    return problem(
      check,
      `AGENT_TLS_CERT_FILE and AGENT_TLS_KEY_FILE do not go together (${(err as Error).message})`,
      'use the key the client certificate was issued for',
    );
  }
  const validTo = Date.parse(new X509Certificate(tls.cert).validTo);
  if (validTo < now)
    return problem(check, 'the client certificate has expired', 'issue the agent a new client certificate');
  const days = Math.floor((validTo - now) / 86_400_000);
  if (validTo - now < EXPIRY_WARN_MS)
    return warn(
      check,
      `the client certificate expires in ${daysText(days)}`,
      'issue the agent a new client certificate soon',
    );
  return ok(check, `presented for mutual TLS; valid ${daysText(days)} more`);
}

function clockFinding(serverDate: string | undefined, sentAt: number, receivedAt: number): Finding {
  const server = serverDate ? Date.parse(serverDate) : Number.NaN;
  if (Number.isNaN(server)) return skipped('clock', 'the coordinator sent no Date header to compare with');
  // The Date header has whole seconds: compare with the midpoint of the request, allowing 1 s.
  const raw = server - (sentAt + receivedAt) / 2;
  const skew = Math.sign(raw) * Math.max(0, Math.abs(raw) - 1000);
  const seconds = Math.round(Math.abs(skew) / 1000);
  const side = skew > 0 ? 'behind' : 'ahead of';
  const fix =
    'synchronise the clock with NTP: timedatectl set-ntp true (systemd-timesyncd), or install chrony';
  if (Math.abs(skew) > CLOCK_SKEW_FAIL_MS)
    return problem('clock', `this machine is ${seconds} s ${side} the coordinator`, fix);
  if (Math.abs(skew) > CLOCK_SKEW_WARN_MS)
    return warn('clock', `this machine is ${seconds} s ${side} the coordinator`, fix);
  return ok('clock', 'within a second or so of the coordinator');
}

export interface ProbeOptions {
  coordinatorUrl: string;
  tls?: TlsMaterial | undefined;
  timeoutMs?: number;
  /** Wall clock (ms); tests move it. */
  now?: () => number;
}

/**
 * Whether the agent can reach its coordinator: GET /healthz as the agent would connect (same CA and
 * client certificate), the TLS certificate it sees, and the clock against the answer's Date.
 */
export async function probeCoordinator(opts: ProbeOptions): Promise<Finding[]> {
  const { tls, timeoutMs = 5_000, now = Date.now } = opts;
  const t = targetOf(opts.coordinatorUrl);
  const findings: Finding[] = [];
  const client = clientCertificate(tls, now());
  if (client) findings.push(client);
  const dispatcher = new Dispatcher({ connect: { ...tls, timeout: timeoutMs } });
  const health = `${opts.coordinatorUrl.replace(/\/+$/, '')}/healthz`;
  const sentAt = now();
  let status: number;
  let date: string | undefined;
  let body: string;
  try {
    const res = await request(health, {
      dispatcher,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs + 1000),
    });
    status = res.statusCode;
    date = typeof res.headers.date === 'string' ? res.headers.date : undefined;
    body = await res.body.text();
  } catch (err) {
    const finding = connectionProblem(t, err, Boolean(tls?.ca), timeoutMs);
    findings.push(finding);
    if (finding.check === 'TLS trust')
      findings.push(skipped('coordinator', 'not reached: no trusted TLS connection'));
    findings.push(skipped('clock', 'needs an answer from the coordinator'));
    return findings;
  } finally {
    await dispatcher.close().catch(() => undefined);
  }
  const receivedAt = now();
  const elapsed = Math.round(receivedAt - sentAt);
  if (status === 200 && /"ok"\s*:\s*true/.test(body)) {
    findings.push(ok('coordinator', `${t.url.origin} answered GET /healthz in ${elapsed} ms`));
  } else {
    findings.push(
      problem(
        'coordinator',
        `${health} answered ${status}, not a coordinator's health check`,
        "set COORDINATOR_URL to the coordinator's base URL (the one operators use, without /api/v1)",
      ),
    );
  }
  if (t.https) {
    try {
      const cert = await peerCertificate(t, tls, timeoutMs);
      const validTo = Date.parse(cert.valid_to);
      const days = Math.floor((validTo - now()) / 86_400_000);
      const by = tls?.ca ? 'the CA in AGENT_TLS_CA_FILE' : "this machine's CAs";
      findings.push(
        validTo - now() < EXPIRY_WARN_MS
          ? warn(
              'TLS trust',
              `certificate of ${t.host} verified by ${by}, but it expires in ${daysText(days)}`,
              'renew the coordinator certificate',
            )
          : ok('TLS trust', `certificate of ${t.host} verified by ${by}; valid ${daysText(days)} more`),
      );
    } catch (err) {
      findings.push(connectionProblem(t, err, Boolean(tls?.ca), timeoutMs));
    }
  } else if (isLoopback(t.host)) {
    findings.push(skipped('TLS trust', 'plain http:// to this machine'));
  } else {
    findings.push(
      warn(
        'TLS trust',
        `plain http:// to ${t.host}: the agent token and the passwords of its jobs cross the network unencrypted`,
        'use https:// in COORDINATOR_URL',
      ),
    );
  }
  findings.push(clockFinding(date, sentAt, receivedAt));
  return findings;
}
