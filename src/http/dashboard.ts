import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { HubError } from '../errors.js';
import type { RouteDoc } from '../reference/route-doc.js';
import { sendError } from './server.js';

/** Where `npm run build` puts the console (vite, dashboard/vite.config.ts): the same from src/ and from dist/. */
const BUILT = fileURLToPath(new URL('../../dist/dashboard/', import.meta.url));

/**
 * Everything from the hub itself: the bundle's script and style files, the hub's API and
 * WebSocket (`'self'` covers ws: on the same host), images drawn by the page. No inline
 * script or style, no eval, no frames, no form posts, no other origin.
 */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const SECURITY_HEADERS = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

export const dashboardDoc: RouteDoc = {
  operationId: 'dashboard',
  summary: "The hub's web console, for operators (sign in with an API key)",
  description: 'A page built from dashboard/ by `npm run build`; it uses only this API. Its assets are under /dashboard/assets/.',
  tag: 'reference',
  access: 'public',
  responses: { 200: { description: 'The console page.', contentType: 'text/html' } },
};

/**
 * GET /dashboard (the page) and /dashboard/assets/* (its hashed, immutable files), with a
 * strict Content-Security-Policy. Before a build there is nothing to serve: 404 saying so.
 */
export function dashboardRoutes(app: FastifyInstance, root = BUILT): void {
  const index = existsSync(`${root}index.html`) ? readFileSync(`${root}index.html`, 'utf8') : undefined;
  app.get('/dashboard', { config: { doc: dashboardDoc } }, async (_request, reply) => {
    if (!index) return sendError(reply, new HubError('not_found', { message: 'The dashboard is not built: run npm run build.' }));
    return reply.headers({ ...SECURITY_HEADERS, 'cache-control': 'no-cache' }).type('text/html; charset=utf-8').send(index);
  });
  app.get('/dashboard/', async (_request, reply) => reply.redirect('/dashboard', 301));
  if (!index) return;
  // Imported when the app is built, not when this module is: the CLI's other commands (tail,
  // publish) load app.ts too, and start faster without it.
  app.register(import('@fastify/static'), {
    root: `${root}assets`,
    prefix: '/dashboard/assets/',
    decorateReply: false,
    index: false,
    list: false,
    setHeaders: (res) => {
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
      res.setHeader('cache-control', 'public, max-age=31536000, immutable'); // file names carry their content hash
    },
  });
}
