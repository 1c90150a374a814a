import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { launchChromium } from '../helpers/chromium.js';
import { startHub, type TestHub } from '../helpers/hub.js';

let hub: TestHub;
let browser: Browser;
const shots = mkdtempSync(join(tmpdir(), 'pushhub-docs-'));

beforeAll(async () => {
  hub = await startHub({ config: { logLevel: 'warn' } });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await hub?.close();
  rmSync(shots, { recursive: true, force: true });
});

it('GET /docs renders the reference in a browser: every route of the document, under its strict CSP', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 2000 } });
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(msg.text());
  });
  const response = await page.goto(`${hub.url}/docs`);
  expect(response?.status()).toBe(200);
  expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");

  await page.waitForSelector('.opblock-summary-path', { timeout: 20_000 });
  const shown = await page.$$eval('.opblock', (blocks) =>
    blocks.map((b) => {
      const method = b.querySelector('.opblock-summary-method')?.textContent ?? '';
      const path = b.querySelector('.opblock-summary-path')?.getAttribute('data-path') ?? '';
      return `${method.trim()} ${path}`;
    }),
  );
  const document = (await (await fetch(`${hub.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
  const documented = Object.entries(document.paths).flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`));
  expect(shown.sort()).toEqual(documented.sort());
  expect(await page.textContent('.info .title')).toContain('pushhub');

  const file = join(shots, 'docs.png');
  await page.screenshot({ path: file, fullPage: false });
  if (process.env.PUSHHUB_KEEP_SCREENSHOT) await page.screenshot({ path: process.env.PUSHHUB_KEEP_SCREENSHOT });
  expect(statSync(file).size).toBeGreaterThan(20_000); // a rendered page, not a blank one
  expect(problems).toEqual([]);
  await page.close();
});
