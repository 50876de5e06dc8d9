import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

/**
 * The dashboard's files: built by `npm run build` into dist/coordinator/dashboard/assets (the
 * client's TypeScript compiled, plus static/), next to this module once compiled. From the sources
 * (tests in-process), the built copy is used.
 */
function assetsDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  if (here.split(/[\\/]/).includes('dist')) return join(here, 'assets');
  return join(here, '..', '..', 'dist', 'coordinator', 'dashboard', 'assets');
}

const TYPES: Record<string, string> = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
  html: 'text/html; charset=utf-8',
  map: 'application/json',
};

/** Same origin only; nothing inline; no framing; no referrer; no powerful features. */
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
};

const FILE_NAME = /^[a-z0-9][a-z0-9-]*(\/[a-z0-9][a-z0-9-]*)?\.(js|css|svg|map)$/;

/** Serves the dashboard: `/` (the page) and `/ui/<file>` (its modules, styles, icon). */
export function registerDashboardAssets(app: FastifyInstance): void {
  const dir = assetsDir();
  const cache = new Map<string, Buffer>();
  const send = async (reply: FastifyReply, file: string) => {
    let body = cache.get(file);
    if (!body) {
      try {
        body = await readFile(join(dir, file));
      } catch {
        return null;
      }
      cache.set(file, body);
    }
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) void reply.header(k, v);
    void reply.header(
      'content-type',
      TYPES[file.slice(file.lastIndexOf('.') + 1)] ?? 'application/octet-stream',
    );
    return reply.send(body);
  };
  app.get('/', async (_req, reply) => {
    const sent = await send(reply, 'index.html');
    if (sent) return sent;
    return reply
      .code(503)
      .header('content-type', 'text/plain; charset=utf-8')
      .send(`the dashboard is not built (${dir} is missing): run npm run build`);
  });
  app.get('/ui/*', async (req, reply) => {
    const file = (req.params as { '*': string })['*'];
    const sent = FILE_NAME.test(file) ? await send(reply, file) : null;
    if (sent) return sent;
    return reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no dashboard file ${file}` } });
  });
}
