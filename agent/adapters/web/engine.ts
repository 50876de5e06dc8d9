import { Agent, request, type Dispatcher } from 'undici';
import type { Logger } from '../../../shared/logger.js';
import type { WebConnection } from '../../../shared/targets/web.js';
import {
  stepUses,
  type Expectation,
  type FailWhen,
  type Step,
  type Workflow,
} from '../../../shared/targets/web-workflow.js';
import type { Attempt } from '../types.js';
import { CookieJar } from './cookies.js';
import { extractValue, headerValue, type Response } from './extract.js';
import { render, renderForm, renderJson, TemplateError, type TemplateValues } from './templates.js';

/** Redirects followed per step when it asks for it. */
export const MAX_REDIRECTS = 5;
/** A page bigger than this is cut: assertions see its beginning. */
export const MAX_BODY_BYTES = 2 * 1024 * 1024;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const USER_AGENT = 'password-sync-agent (web workflow)';

/** `dependency`: a web dependency's steps after the login (agent/dependencies/web.ts). */
export type WorkflowLabel = 'login' | 'verify' | 'change' | 'dependency';

export interface RunInput {
  connection: WebConnection;
  /** Run in this order, in one session (cookies and variables carry over). */
  workflows: readonly (readonly [WorkflowLabel, Workflow])[];
  values: { username: string; password: string; newPassword?: string };
  signal: AbortSignal;
  log?: Logger;
}

type Failure = Extract<Attempt, { ok: false }>;

/**
 * Why a step got no usable answer: `unreachable` unless it is a problem of the request itself
 * (`error`) or the site led the step somewhere it must not follow (`workflow_failed`).
 */
class NoAnswer extends Error {
  constructor(
    readonly what: string,
    readonly reason: 'unreachable' | 'error' | 'workflow_failed' = 'unreachable',
  ) {
    super(what);
  }
}

/**
 * TLS failures: the site answered, but its certificate does not check out (expired, self-signed,
 * another name, unknown CA). `error`, as for SSH and databases: retrying cannot help and the
 * operator must look (a wrong `tls.ca`, or a machine pretending to be the site).
 */
const TLS_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
  'ERR_SSL_WRONG_VERSION_NUMBER',
]);

const errorCode = (err: unknown): string | undefined => {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const code = e?.code ?? e?.cause?.code;
  return typeof code === 'string' ? code : undefined;
};

function describeNetworkError(err: unknown, host: string, timeoutMs: number): NoAnswer {
  const code = errorCode(err);
  switch (code) {
    case 'ECONNREFUSED':
      return new NoAnswer(`connection refused by ${host}`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return new NoAnswer(`cannot resolve ${host} (${code})`);
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'ETIMEDOUT':
      return new NoAnswer(`no answer from ${host} within ${timeoutMs} ms`);
    case undefined:
      return new NoAnswer(`request to ${host} failed (${(err as Error)?.name ?? 'error'})`);
    default:
      if (TLS_CODES.has(code))
        return new NoAnswer(`TLS: the certificate of ${host} was refused (${code})`, 'error');
      if (code.startsWith('UND_ERR_INVALID')) return new NoAnswer(`invalid request (${code})`, 'error');
      return new NoAnswer(`request to ${host} failed (${code})`);
  }
}

const ensureSafeHeader = (name: string, value: string): string => {
  if (/[\r\n\0]/.test(value)) throw new NoAnswer(`header '${name}' would contain a line break`, 'error');
  return value;
};

/** Reads at most MAX_BODY_BYTES of a response body and drops the rest. */
async function readBody(body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    const room = MAX_BODY_BYTES - size;
    chunks.push(buf.length > room ? buf.subarray(0, room) : buf);
    size += Math.min(buf.length, room);
    if (size >= MAX_BODY_BYTES) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).toString('utf8');
}

const statusMatches = (want: number | number[], got: number): boolean =>
  Array.isArray(want) ? want.includes(got) : want === got;

const showStatus = (want: number | number[]): string =>
  Array.isArray(want) ? (want.length === 1 ? String(want[0]) : `one of ${want.join(', ')}`) : String(want);

/** The first unmet condition of an expectation, described without quoting the page. */
function unmet(e: Expectation, res: Response, jar: CookieJar): string | undefined {
  if (e.status !== undefined && !statusMatches(e.status, res.status)) {
    return `expected status ${showStatus(e.status)}, got ${res.status}`;
  }
  if (e.header !== undefined) {
    const value = headerValue(res, e.header.name);
    if (value === undefined) return `expected header '${e.header.name}', got none (status ${res.status})`;
    if (!new RegExp(e.header.matches).test(value)) {
      return `expected header '${e.header.name}' to match /${e.header.matches}/ (status ${res.status})`;
    }
  }
  if (e.bodyMatches !== undefined && !new RegExp(e.bodyMatches).test(res.body)) {
    return `expected the page to match /${e.bodyMatches}/ (status ${res.status})`;
  }
  if (e.bodyNotMatches !== undefined && new RegExp(e.bodyNotMatches).test(res.body)) {
    return `expected the page not to match /${e.bodyNotMatches}/ (status ${res.status})`;
  }
  if (e.cookie !== undefined && !jar.has(e.cookie)) {
    return `expected cookie '${e.cookie}' to be set (status ${res.status})`;
  }
  return undefined;
}

function failWhenMatches(f: FailWhen, res: Response): boolean {
  if (f.status !== undefined && !statusMatches(f.status, res.status)) return false;
  if (f.header !== undefined) {
    const value = headerValue(res, f.header.name);
    if (value === undefined || !new RegExp(f.header.matches).test(value)) return false;
  }
  if (f.bodyMatches !== undefined && !new RegExp(f.bodyMatches).test(res.body)) return false;
  return true;
}

/**
 * One run of workflows in one session. Never throws for the site's answer: every outcome is an
 * Attempt. `definite` is false for a failure once a step that sends {{newPassword}} has gone out
 * (the site may have taken it), except when a failWhen recognised the site's refusal.
 */
export async function runWorkflows(input: RunInput): Promise<Attempt> {
  const { connection, signal, log } = input;
  const baseUrl = new URL(connection.baseUrl);
  const dispatcher = new Agent({
    connect: {
      timeout: connection.timeoutMs,
      rejectUnauthorized: connection.tls.rejectUnauthorized,
      ...(connection.tls.ca !== undefined ? { ca: connection.tls.ca } : {}),
    },
    headersTimeout: connection.timeoutMs,
    bodyTimeout: connection.timeoutMs,
  });
  const jar = new CookieJar();
  const vars = new Map<string, string>();
  const values: TemplateValues = { ...input.values, vars };
  let submitted = false;
  try {
    for (const [label, workflow] of input.workflows) {
      for (const step of workflow.steps) {
        const where = `${label} workflow, step '${step.name}'`;
        const fail = (reason: Failure['reason'], what: string, definite = !submitted): Failure => ({
          ok: false,
          reason,
          message: `${where}: ${what}`,
          definite,
        });
        if (signal.aborted) return fail('unreachable', 'aborted before the step was sent');
        if (stepUses(step, 'newPassword')) submitted = true;
        let res: Response;
        try {
          res = await send(step, { baseUrl, connection, values, jar, dispatcher, signal });
        } catch (err) {
          if (err instanceof NoAnswer) return fail(err.reason, err.message);
          if (err instanceof TemplateError) return fail('error', err.message, true);
          throw err;
        }
        log?.debug({ workflow: label, step: step.name, status: res.status }, 'web step answered');
        const known = (step.failWhen ?? []).find((f) => failWhenMatches(f, res));
        if (known !== undefined) {
          return fail(
            known.reason,
            `the site answered with a known ${known.reason} page (status ${res.status})`,
            true,
          );
        }
        const expectations = step.expect ?? [];
        if (expectations.length === 0 && res.status >= 400) {
          return fail('workflow_failed', `expected a status below 400, got ${res.status}`);
        }
        for (const e of expectations) {
          const why = unmet(e, res, jar);
          if (why !== undefined) return fail('workflow_failed', why);
        }
        for (const e of step.extract ?? []) {
          const value = extractValue(e, res, jar);
          if (value === undefined && e.required) {
            return fail(
              'workflow_failed',
              `could not extract '${e.name}' from the ${e.from} (status ${res.status})`,
            );
          }
          vars.set(e.name, value ?? '');
        }
      }
    }
    return { ok: true };
  } finally {
    void dispatcher.destroy().catch(() => undefined);
  }
}

interface SendContext {
  baseUrl: URL;
  connection: WebConnection;
  values: TemplateValues;
  jar: CookieJar;
  dispatcher: Dispatcher;
  signal: AbortSignal;
}

/** Sends a step (following redirects when it asks), keeping cookies; resolves with the last response. */
async function send(step: Step, c: SendContext): Promise<Response> {
  let url = resolveUrl(render(step.url, c.values, encodeURIComponent), c.baseUrl);
  const origin = url.origin;
  let method: string = step.method;
  const stepHeaders: Record<string, string> = {};
  for (const [name, template] of Object.entries(step.headers ?? {})) {
    stepHeaders[name.toLowerCase()] = ensureSafeHeader(name, render(template, c.values));
  }
  let body: string | undefined;
  let contentType: string | undefined;
  if (step.form !== undefined) {
    body = renderForm(step.form, c.values);
    contentType = 'application/x-www-form-urlencoded';
  } else if (step.json !== undefined) {
    body = JSON.stringify(renderJson(step.json, c.values));
    contentType = 'application/json';
  }
  for (let hop = 0; ; hop++) {
    const headers: Record<string, string> = {
      'user-agent': USER_AGENT,
      accept: 'text/html,application/xhtml+xml,application/json;q=0.9,*/*;q=0.8',
      // A redirect to another origin does not carry the step's own headers (they may hold secrets).
      ...(url.origin === origin ? stepHeaders : {}),
    };
    if (body !== undefined && contentType !== undefined && headers['content-type'] === undefined) {
      headers['content-type'] = contentType;
    }
    const cookie = c.jar.header(url);
    if (cookie !== undefined) headers.cookie = headers.cookie ? `${headers.cookie}; ${cookie}` : cookie;
    const res = await exchange(url, method, headers, body, c);
    c.jar.store(url, res.headers['set-cookie']);
    const location = headerValue(res, 'location');
    if (!step.followRedirects || !REDIRECTS.has(res.status) || location === undefined) return res;
    if (hop >= MAX_REDIRECTS) {
      throw new NoAnswer(`more than ${MAX_REDIRECTS} redirects`, 'error');
    }
    const next = resolveUrl(location, url);
    // 307 / 308 repeat the request with its body (the password, a token) at the new address: never
    // to another origin, which the workflow did not name.
    if ((res.status === 307 || res.status === 308) && body !== undefined && next.origin !== origin) {
      throw new NoAnswer(
        `refused to follow a ${res.status} redirect to ${next.origin}: it would re-send the step's body to another origin`,
        'workflow_failed',
      );
    }
    url = next;
    if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
      method = 'GET';
      body = undefined;
      contentType = undefined;
    }
  }
}

function resolveUrl(target: string, base: URL): URL {
  let url: URL;
  try {
    url = new URL(target, base);
  } catch {
    throw new NoAnswer('the step URL is not a valid URL', 'error');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new NoAnswer(`the step URL is not http or https (${url.protocol})`, 'error');
  }
  return url;
}

async function exchange(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  c: SendContext,
): Promise<Response> {
  const timeout = AbortSignal.timeout(c.connection.timeoutMs);
  const signal = AbortSignal.any([c.signal, timeout]);
  try {
    const res = await request(url, {
      method: method as Dispatcher.HttpMethod,
      headers,
      body,
      dispatcher: c.dispatcher,
      signal,
    });
    const text = await readBody(res.body);
    return { status: res.statusCode, headers: res.headers, body: text };
  } catch (err) {
    if (err instanceof NoAnswer) throw err;
    if (c.signal.aborted) throw new NoAnswer('aborted (the job was stopped)');
    if (timeout.aborted) throw new NoAnswer(`no answer from ${url.host} within ${c.connection.timeoutMs} ms`);
    throw describeNetworkError(err, url.host, c.connection.timeoutMs);
  }
}
