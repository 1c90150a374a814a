import { createServer, type Server } from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/chromium.js';
import { startHub, type TestHub } from '../helpers/hub.js';
import { mintToken, publish } from '../helpers/tokens.js';

/**
 * Pages on another origin than the hub, in a Chromium with web security on: whatever the
 * page manages to read, the browser's CORS checks let it read.
 */

let site: Server;
let sitePort: number;
let browser: Browser;
/** PUSHHUB_CORS_ORIGINS=* (the default). */
let open: TestHub;
/** PUSHHUB_CORS_ORIGINS=http://localhost:<sitePort>: the page on 127.0.0.1:<sitePort> is another origin. */
let list: TestHub;

const allowedSite = (): string => `http://localhost:${sitePort}`;
const otherSite = (): string => `http://127.0.0.1:${sitePort}`;

beforeAll(async () => {
  site = createServer((req, res) => {
    if (req.url === '/') return res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>another origin</title>');
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  sitePort = (site.address() as { port: number }).port;
  [open, list, browser] = await Promise.all([
    startHub({ config: { logLevel: 'info' } }),
    // debug: its access log shows what the hub itself answered the refused page
    startHub({ config: { logLevel: 'debug', corsOrigins: [`http://localhost:${sitePort}`] } }),
    launchChromium(),
  ]);
}, 120_000); // the first run on a machine extracts Chromium (seconds)

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => site?.close(resolve));
  await open?.close();
  await list?.close();
});

/** A page of `origin`, with page errors collected. */
async function pageOf(origin: string): Promise<Page & { errors: string[] }> {
  const page = Object.assign(await browser.newPage(), { errors: [] as string[] });
  page.on('pageerror', (err) => page.errors.push(err.message));
  await page.goto(`${origin}/`);
  expect(await page.evaluate(() => location.origin)).toBe(origin);
  return page;
}

interface SseState {
  outcome: 'open' | 'closed';
  ids: string[];
}

/** Opens an EventSource in the page; resolves once it is open, or failed for good. */
function openEventSource(page: Page, url: string): Promise<SseState['outcome']> {
  return page.evaluate(
    (url) =>
      new Promise<'open' | 'closed'>((resolve) => {
        const w = window as unknown as { sse: { ids: string[] } };
        w.sse = { ids: [] };
        const es = new EventSource(url);
        es.onopen = () => resolve('open');
        es.onmessage = (m: MessageEvent<string>) => w.sse.ids.push((JSON.parse(m.data) as { id: string }).id);
        // A refused response (403, or no CORS header) fails an EventSource for good: CLOSED.
        es.onerror = () => es.readyState === EventSource.CLOSED && resolve('closed');
      }),
    url,
  );
}

const sseIds = (page: Page): Promise<string[]> => page.evaluate(() => (window as unknown as { sse: { ids: string[] } }).sse.ids);

type PollResult = { ok: true; status: number; ids: string[]; code?: string; requestId: string | null; retryAfter: string | null } | { ok: false; error: string };

/** fetch() from the page; `ok: false` when the browser refused to hand the response over. */
function pollFrom(page: Page, url: string, headers: Record<string, string> = {}): Promise<PollResult> {
  return page.evaluate(
    async ({ url, headers }) => {
      try {
        const res = await fetch(url, { headers });
        const body = (await res.json()) as { events?: Array<{ id: string }>; error?: { code: string } };
        return {
          ok: true as const,
          status: res.status,
          ids: (body.events ?? []).map((e) => e.id),
          code: body.error?.code,
          requestId: res.headers.get('x-request-id'),
          retryAfter: res.headers.get('retry-after'),
        };
      } catch (err) {
        return { ok: false as const, error: String(err) };
      }
    },
    { url, headers },
  );
}

/** Opens a WebSocket from the page; resolves with `open`, or how it closed without ever being open. */
function openWebSocket(page: Page, url: string): Promise<string> {
  return page.evaluate(
    (url) =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(url);
        (window as unknown as { ws: WebSocket }).ws = ws;
        ws.onopen = () => resolve('open');
        ws.onclose = (e) => resolve(`closed ${e.code}`);
      }),
    url,
  );
}

const wsUrl = (hub: TestHub, token: string): string => `${hub.url.replace(/^http/, 'ws')}/v1/ws?token=${encodeURIComponent(token)}`;

describe('a page on another origin, PUSHHUB_CORS_ORIGINS=*', () => {
  it('reads a channel with EventSource (?token=) and gets exactly the published events', async () => {
    const page = await pageOf(otherSite());
    const token = await mintToken(open, { channels: ['web.*'] });
    expect(await openEventSource(page, `${open.url}/v1/channels/web.sse/sse?token=${encodeURIComponent(token)}`)).toBe('open');
    const expected: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { id } = await publish(open, i % 2 ? 'web.other' : 'web.sse', { i }); // another channel in between
      if (i % 2 === 0) expected.push(id);
    }
    await page.waitForFunction((n) => (window as unknown as { sse: { ids: string[] } }).sse.ids.length >= n, expected.length);
    expect(await sseIds(page)).toEqual(expected);
    expect(page.errors).toEqual([]);
    await page.close();
  });

  it('polls with ?token= and with Authorization: Bearer (a preflighted request), and reads the exposed headers', async () => {
    const page = await pageOf(otherSite());
    const token = await mintToken(open, { channels: ['web.*'] });
    const sent = [];
    for (let i = 0; i < 4; i++) sent.push((await publish(open, 'web.poll', { i })).id);
    const url = `${open.url}/v1/channels/web.poll/events`;

    const byQuery = await pollFrom(page, `${url}?token=${encodeURIComponent(token)}`);
    expect(byQuery).toMatchObject({ ok: true, status: 200, ids: sent });
    expect(byQuery.ok && byQuery.requestId).toMatch(/^req_/); // exposed: a page can quote it in a report

    const byHeader = await pollFrom(page, url, { authorization: `Bearer ${token}` });
    expect(byHeader).toMatchObject({ ok: true, status: 200, ids: sent });

    // Errors are readable too: the page learns why, not just "network error".
    expect(await pollFrom(page, url)).toMatchObject({ ok: true, status: 401, code: 'unauthorized' });
    expect(await pollFrom(page, url, { authorization: 'Bearer nonsense' })).toMatchObject({ ok: true, status: 401, code: 'unauthorized' });
    expect(page.errors).toEqual([]);
    await page.close();
  });
});

describe('PUSHHUB_CORS_ORIGINS naming one origin', () => {
  it('a page of that origin reads by EventSource, polling (both credentials) and WebSocket', async () => {
    const page = await pageOf(allowedSite());
    const token = await mintToken(list, { channels: ['web.*'] });
    expect(await openEventSource(page, `${list.url}/v1/channels/web.allowed/sse?token=${encodeURIComponent(token)}`)).toBe('open');
    expect(await openWebSocket(page, wsUrl(list, token))).toBe('open');
    const sent = [];
    for (let i = 0; i < 3; i++) sent.push((await publish(list, 'web.allowed', { i })).id);
    await page.waitForFunction(() => (window as unknown as { sse: { ids: string[] } }).sse.ids.length >= 3);
    expect(await sseIds(page)).toEqual(sent);
    const url = `${list.url}/v1/channels/web.allowed/events`;
    expect(await pollFrom(page, `${url}?token=${encodeURIComponent(token)}`)).toMatchObject({ ok: true, status: 200, ids: sent });
    expect(await pollFrom(page, url, { authorization: `Bearer ${token}` })).toMatchObject({ ok: true, status: 200, ids: sent });
    expect(page.errors).toEqual([]);
    await page.close();
  });

  it('a page of another origin is refused on SSE, on polling and on WebSocket', async () => {
    const page = await pageOf(otherSite());
    const logged = list.logs.length;
    const token = await mintToken(list, { channels: ['web.*'] });
    await publish(list, 'web.refused', { secret: true });

    expect(await openEventSource(page, `${list.url}/v1/channels/web.refused/sse?token=${encodeURIComponent(token)}`)).toBe('closed');
    const url = `${list.url}/v1/channels/web.refused/events`;
    expect(await pollFrom(page, `${url}?token=${encodeURIComponent(token)}`)).toMatchObject({ ok: false });
    expect(await pollFrom(page, url, { authorization: `Bearer ${token}` })).toMatchObject({ ok: false });
    // Never open: the upgrade is refused with 403, which a page sees as close 1006.
    expect(await openWebSocket(page, wsUrl(list, token))).toBe('closed 1006');

    await publish(list, 'web.refused', { secret: 'still' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await sseIds(page)).toEqual([]);
    // The hub itself said no (not only the browser declining a response without CORS headers).
    const refusedByHub = list.logs
      .slice(logged)
      .filter((l) => l.msg === 'request completed' && l.status === 403)
      .map((l) => String((l.req as { url: string }).url).split('?')[0]);
    expect(refusedByHub).toEqual(expect.arrayContaining(['/v1/channels/web.refused/sse', '/v1/channels/web.refused/events']));
    await page.close();
  });
});
