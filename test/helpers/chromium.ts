import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { chromium as playwright, type Browser } from 'playwright-core';

/**
 * Our flags, and only ours. Never `@sparticuz/chromium`'s own `args`: they include
 * `--disable-web-security`, which turns CORS off and would make every cross-origin test pass
 * whatever the hub answers. `--no-sandbox` because tests run as root.
 */
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

const SYSTEM_CHROMIUM = '/usr/bin/chromium';
const LOCK_STALE_MS = 120_000; // an extraction takes seconds: a lock this old was left by a killed run
const LOCK_WAIT_MS = 90_000;

let found: Promise<string> | undefined;

/**
 * The Chromium to drive, in this order: `PUSHHUB_CHROMIUM` (a path), Debian's
 * `/usr/bin/chromium`, else the one packed in the `@sparticuz/chromium` dev dependency,
 * extracted once into the temp folder (a fresh machine needs nothing installed by hand).
 */
export function chromiumPath(): Promise<string> {
  found ??= (async () => {
    const given = process.env.PUSHHUB_CHROMIUM;
    if (given) {
      if (!existsSync(given)) throw new Error(`PUSHHUB_CHROMIUM=${given}: no such file`);
      return given;
    }
    if (existsSync(SYSTEM_CHROMIUM)) return SYSTEM_CHROMIUM;
    return extractPacked();
  })();
  return found;
}

/** Launches headless Chromium with web security on (CORS enforced as in any browser). */
export async function launchChromium(): Promise<Browser> {
  return playwright.launch({ executablePath: await chromiumPath(), args: ARGS });
}

/**
 * `executablePath()` returns `/tmp/chromium` as soon as that file exists, even half written
 * by another process extracting at the same moment (vitest runs test files in parallel
 * processes), or by a run killed mid-way. So extraction is serialised across processes by a
 * lock directory (mkdir is atomic), and a marker written after a complete extraction, holding
 * the package version and the binary's size, tells a finished binary from a partial one.
 */
async function extractPacked(): Promise<string> {
  // The package exports no ./package.json: read it beside its entry point (build/cjs/index.cjs).
  const entry = createRequire(import.meta.url).resolve('@sparticuz/chromium');
  const { version } = JSON.parse(readFileSync(join(dirname(entry), '..', '..', 'package.json'), 'utf8')) as { version: string };
  const binary = join(tmpdir(), 'chromium');
  const marker = join(tmpdir(), 'chromium.extracted-by-pushhub-tests');
  const lock = join(tmpdir(), 'chromium.lock-of-pushhub-tests');
  const complete = (): boolean => {
    if (!existsSync(marker) || !existsSync(binary)) return false;
    const { version: v, size } = JSON.parse(readFileSync(marker, 'utf8')) as { version: string; size: number };
    return v === version && size === statSync(binary).size;
  };

  const deadline = Date.now() + LOCK_WAIT_MS;
  const tryLock = (): boolean => {
    try {
      mkdirSync(lock);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
  };
  for (;;) {
    if (complete()) return binary;
    if (tryLock()) break;
    const since = statSync(lock, { throwIfNoEntry: false })?.mtimeMs;
    if (since !== undefined && Date.now() - since > LOCK_STALE_MS) rmSync(lock, { recursive: true, force: true });
    if (Date.now() > deadline) throw new Error(`waited ${LOCK_WAIT_MS} ms for another process extracting Chromium (${lock})`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  try {
    if (complete()) return binary; // another process finished while we waited for the lock
    // Whatever is there was not extracted to the end by us: start over rather than trust it.
    rmSync(binary, { force: true });
    rmSync(marker, { force: true });
    const { default: packed } = await import('@sparticuz/chromium');
    const path = await packed.executablePath();
    writeFileSync(marker, JSON.stringify({ version, size: statSync(path).size }));
    return path;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
