/**
 * A loopback HTTP proxy between agents and the coordinator's gateway, for fault tests: it forwards
 * every call unchanged, and, when armed, lets the test kill the agent "during the report" of a
 * change: either the report reaches the coordinator (which takes it) and the agent is killed
 * before the answer is relayed (`unanswered`), or the agent is killed while the report is on its
 * way and the coordinator never sees it (`lost`).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GATEWAY_PATHS, ReportRequestSchema, ReportResponseSchema } from '../../shared/contracts/gateway.js';

export type ReportFault = 'unanswered' | 'lost';

export interface GatewayProxy {
  url: string;
  /**
   * Arms the proxy for the next report that carries change results: `kill` is called at the fault
   * and the agent gets no answer. Resolves with the change jobs of that report (for `unanswered`,
   * those the coordinator accepted).
   */
  killOnNextChangeReport(fault: ReportFault, kill: () => void): Promise<string[]>;
  close(): Promise<void>;
}

const FORWARDED = ['authorization', 'content-type', 'user-agent', 'accept'];

const readBody = (req: IncomingMessage): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });

export async function startGatewayProxy(target: string): Promise<GatewayProxy> {
  let armed: { fault: ReportFault; kill: () => void; done: (jobs: string[]) => void } | undefined;

  const forward = async (req: IncomingMessage, body: Buffer, signal?: AbortSignal) => {
    const headers: Record<string, string> = {};
    for (const name of FORWARDED) {
      const v = req.headers[name];
      if (typeof v === 'string') headers[name] = v;
    }
    const res = await fetch(`${target}${req.url ?? '/'}`, {
      method: req.method ?? 'GET',
      headers,
      ...(req.method === 'GET' || req.method === 'HEAD' ? {} : { body }),
      ...(signal ? { signal } : {}),
    });
    return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
  };

  const changesIn = (body: Buffer): string[] => {
    try {
      const parsed = ReportRequestSchema.safeParse(JSON.parse(body.toString()));
      return parsed.success
        ? parsed.data.results.map((r) => r.jobId).filter((id) => id.startsWith('c-'))
        : [];
    } catch {
      return [];
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readBody(req);
    const fault = armed;
    const changes = fault && req.method === 'POST' && req.url === GATEWAY_PATHS.report ? changesIn(body) : [];
    if (fault && changes.length > 0) {
      armed = undefined;
      if (fault.fault === 'lost') {
        fault.kill();
        req.socket.destroy();
        fault.done(changes);
        return;
      }
      const answer = await forward(req, body).catch(() => ({ text: 'null' }));
      let json: unknown = null;
      try {
        json = JSON.parse(answer.text);
      } catch {
        // not an answer of the coordinator: nothing accepted
      }
      const accepted = ReportResponseSchema.safeParse(json);
      fault.kill();
      req.socket.destroy();
      fault.done(accepted.success ? changes.filter((id) => accepted.data.accepted.includes(id)) : []);
      return;
    }
    // An agent that goes away (killed, stopped) mid-call: the coordinator sees it go, as without a proxy.
    const gone = new AbortController();
    res.once('close', () => {
      if (!res.writableEnded) gone.abort();
    });
    const answer = await forward(req, body, gone.signal);
    res.writeHead(answer.status, answer.type ? { 'content-type': answer.type } : {});
    res.end(answer.text);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      // The coordinator is down (restarted by a test), or the agent went away: a failed call.
      if (res.destroyed) return;
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    killOnNextChangeReport: (fault, kill) => new Promise((done) => (armed = { fault, kill, done })),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
