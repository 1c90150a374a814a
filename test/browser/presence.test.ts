import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { launchChromium } from '../helpers/chromium.js';
import { startHub, type TestHub } from '../helpers/hub.js';
import { mintToken } from '../helpers/tokens.js';

const CLIENT_DIR = fileURLToPath(new URL('../../dist/client/', import.meta.url));
const GRACE_MS = 300;

/** A page keeping the member set of one channel with the built client library. */
const PAGE = `<!doctype html><meta charset="utf-8"><title>pushhub presence test</title>
<script type="module">
  import { connect } from '/client/index.js';
  const params = new URLSearchParams(location.search);
  const client = connect({ url: params.get('hub'), token: params.get('token'), backoff: { initialMs: 50, maxMs: 400 } });
  window.seen = [];
  window.client = client;
  client.subscribe('room.lobby', () => {}, {
    presence: true,
    onJoin: (m) => window.seen.push('join ' + m.sub + ' ' + (m.info.name ?? '')),
    onLeave: (m) => window.seen.push('leave ' + m.sub),
  });
</script>`;

let hub: TestHub;
let site: Server;
let siteUrl: string;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(join(CLIENT_DIR, 'index.js'))) throw new Error('dist/client is missing: npm run build first');
  hub = await startHub({ config: { logLevel: 'info', realtime: { presenceGraceMs: GRACE_MS, presenceCoalesceMs: 20 } } });
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
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => site?.close(resolve));
  await hub?.close();
});

async function open(sub: string, name: string, errors: string[]): Promise<Page> {
  const page = await browser.newPage();
  page.on('pageerror', (err) => errors.push(err.message));
  const token = await mintToken(hub, { channels: ['room.*'], sub, info: { name } });
  await page.goto(`${siteUrl}/?hub=${encodeURIComponent(hub.url)}&token=${encodeURIComponent(token)}`);
  return page;
}

const seen = (page: Page): Promise<string[]> => page.evaluate(() => (window as unknown as { seen: string[] }).seen);
const waitSeen = (page: Page, entry: string): Promise<unknown> =>
  page.waitForFunction((e) => (window as unknown as { seen: string[] }).seen.includes(e), entry, { timeout: 10_000 });

it('two pages with different subs see each other join and leave through the client library', async () => {
  const errors: string[] = [];
  const ada = await open('ada', 'Ada', errors);
  await waitSeen(ada, 'join ada Ada');
  const grace = await open('grace', 'Grace', errors);
  await waitSeen(grace, 'join ada Ada'); // from its snapshot
  await waitSeen(grace, 'join grace Grace');
  await waitSeen(ada, 'join grace Grace'); // from the join frame
  await grace.close();
  await waitSeen(ada, 'leave grace');
  expect(await seen(ada)).toEqual(['join ada Ada', 'join grace Grace', 'leave grace']);
  const members = await ada.evaluate(() => (window as unknown as { client: { members(c: string): Array<{ sub: string }> } }).client.members('room.lobby'));
  expect(members.map((m) => m.sub)).toEqual(['ada']);
  await ada.close();
  expect(errors).toEqual([]);
});
