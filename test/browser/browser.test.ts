import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { launchChromium } from '../helpers/chromium.js';
import { startHub, type TestHub } from '../helpers/hub.js';
import { channelLog } from '../helpers/log.js';
import { startProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { mintToken, publish } from '../helpers/tokens.js';

const CLIENT_DIR = fileURLToPath(new URL('../../dist/client/', import.meta.url));

/** The page: plain ES modules, the built client imported as a browser would, no bundler. */
const PAGE = `<!doctype html><meta charset="utf-8"><title>pushhub browser test</title>
<script type="module">
  import { connect } from '/client/index.js';
  const params = new URLSearchParams(location.search);
  const client = connect({ url: params.get('hub'), token: params.get('token'), backoff: { initialMs: 50, maxMs: 400 } });
  window.received = [];
  window.states = [];
  window.client = client;
  client.on('state', (s) => window.states.push(s));
  client.subscribe('browser.feed', (event) => window.received.push(event.id));
</script>`;

let hub: TestHub;
let proxy: TcpProxy;
let site: Server;
let siteUrl: string;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(join(CLIENT_DIR, 'index.js'))) throw new Error('dist/client is missing: npm run build first');
  hub = await startHub({ config: { logLevel: 'info' } });
  proxy = await startProxy(hub.url);
  site = createServer((req, res) => {
    const path = new URL(req.url!, 'http://x').pathname;
    if (path === '/') return res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
    const file = join(CLIENT_DIR, path.replace(/^\/client\//, ''));
    if (path.startsWith('/client/') && /^[\w.-]+\.js$/.test(path.slice(8)) && existsSync(file)) {
      return res.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(file));
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  siteUrl = `http://127.0.0.1:${(site.address() as { port: number }).port}`;
  browser = await launchChromium();
}, 120_000); // the first run on a machine extracts Chromium (seconds)

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => site?.close(resolve));
  await proxy?.close();
  await hub?.close();
});

it('a browser subscribes with the client library, loses its connection, resumes with nothing missing', async () => {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  const token = await mintToken(hub, { channels: ['browser.*'] });
  await page.goto(`${siteUrl}/?hub=${encodeURIComponent(proxy.url)}&token=${encodeURIComponent(token)}`);
  await page.waitForFunction(() => (window as unknown as { client: { cursor(c: string): string | undefined } }).client?.cursor('browser.feed'));
  const start = await page.evaluate(() => (window as unknown as { client: { cursor(c: string): string } }).client.cursor('browser.feed'));

  const received = () => page.evaluate(() => (window as unknown as { received: string[] }).received);
  for (let i = 0; i < 5; i++) await publish(hub, 'browser.feed', { i });
  await page.waitForFunction(() => (window as unknown as { received: string[] }).received.length === 5);

  proxy.dropAll(); // the network drops; events keep coming meanwhile
  for (let i = 5; i < 12; i++) await publish(hub, 'browser.feed', { i });
  await page.waitForFunction(() => (window as unknown as { received: string[] }).received.length >= 12, undefined, { timeout: 10_000 });

  expect(await received()).toEqual(await channelLog(hub, 'browser.feed', start));
  const states = await page.evaluate(() => (window as unknown as { states: string[] }).states);
  expect(states).toContain('reconnecting');
  expect(states.at(-1)).toBe('open');
  expect(errors).toEqual([]);
  await page.close();
});
