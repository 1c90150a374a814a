import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { expectedPattern, runSession, shellBlocks, type SessionResult } from '../helpers/shell-doc.js';

/**
 * The README's shell examples, run as written and in order against a real hub.
 *
 * The hub is the built CLI (`node dist/cli.js serve`; `npm test` builds `dist/` first) with
 * its data folder at `<tmp>/data/`. The blocks run in one `bash -euo pipefail` session whose
 * working directory is `<tmp>`, standing in for the root of a clone: it has its own `data/`
 * and links to the repository's `dist/` and `examples/`. Only ports change: the hub's
 * `8080` and the example receiver's `3000` become free ports. Blocks marked
 * `<!-- readme-test: skip (why) -->` do not run. The shell examples of docs/protocol.md
 * continue the quick start (its variables), so they run next, in the same session. Each `# → …` line of a block must match a
 * whole line of what that block printed (`…` is anything).
 *
 * Nothing reaches a registry (`npm_config_offline=true`), every curl is bounded by a
 * `.curlrc` (`max-time`), and the session by a deadline.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const README = join(ROOT, 'README.md');
/** Run after the README, in the same session: their examples continue its quick start. */
const CONTINUED = [join(ROOT, 'docs', 'protocol.md')];
/** Far above a normal run (about 15 s): only a block that hangs or keeps waiting meets it. */
const SESSION_DEADLINE_MS = 40_000;

/** README.md and every markdown file under docs/. */
function docFiles(): string[] {
  const docs = join(ROOT, 'docs');
  const files = existsSync(docs) ? readdirSync(docs).filter((f) => f.endsWith('.md')).map((f) => join(docs, f)) : [];
  return [README, ...files];
}

/** The environment of a fresh terminal: none of the developer's PUSHHUB_* settings. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PUSHHUB_')) env[k] = v;
  return { ...env, npm_config_offline: 'true', ...extra };
}

describe('README and docs/ stand alone', () => {
  it('name no file outside the repository', () => {
    for (const file of docFiles()) {
      const text = readFileSync(file, 'utf8');
      for (const banned of ['../shared', 'API.md', 'DESIGN.md']) {
        expect(text.includes(banned), `${file.slice(ROOT.length)} mentions ${banned}`).toBe(false);
      }
    }
  });

  it('link only to files that exist', () => {
    for (const file of docFiles()) {
      const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/i.test(target!) || target!.startsWith('#')) continue;
        const path = resolve(dirname(file), decodeURIComponent(target!.split('#')[0]!));
        expect(existsSync(path), `${file.slice(ROOT.length)} links to missing ${target}`).toBe(true);
      }
    }
  });

  it('mark every skipped shell block with a reason', () => {
    const blocks = shellBlocks(readFileSync(README, 'utf8'));
    expect(blocks.filter((b) => !b.skip).length).toBeGreaterThan(5);
    for (const b of blocks) if (b.skip !== undefined) expect(b.skip.length, `line ${b.line}`).toBeGreaterThan(5);
  });
});

describe('README (and docs/protocol.md) shell examples', () => {
  let dir: string;
  let hub: ChildProcess | undefined;
  let hubLog = '';
  let hubPort: number;
  let receiverPort: number;

  beforeAll(async () => {
    const cli = join(ROOT, 'dist', 'cli.js');
    if (!existsSync(cli)) throw new Error('dist/cli.js is missing: run `npm run build` (npm test does) first');
    dir = mkdtempSync(join(tmpdir(), 'pushhub-readme-'));
    symlinkSync(join(ROOT, 'dist'), join(dir, 'dist'));
    symlinkSync(join(ROOT, 'examples'), join(dir, 'examples'));
    writeFileSync(join(dir, '.curlrc'), 'connect-timeout = 5\nmax-time = 10\n');
    receiverPort = await freePort();

    // As the README's quick start says to start it for its webhook example (receiver on 127.0.0.1).
    const child = spawn(process.execPath, [cli, 'serve'], {
      cwd: dir,
      env: cleanEnv({ PUSHHUB_PORT: '0', PUSHHUB_ALLOW_PRIVATE_URLS: 'true' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    hub = child;
    child.stderr.on('data', (d: Buffer) => (hubLog += d.toString()));
    hubPort = await new Promise<number>((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`the hub did not start within 15 s\n${hubLog}`)), 15_000);
      createInterface({ input: child.stdout }).on('line', (line) => {
        hubLog += `${line}\n`;
        if (!line.includes('"pushhub listening"')) return;
        clearTimeout(timer);
        ok(Number(new URL((JSON.parse(line) as { address: string }).address).port));
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        fail(new Error(`the hub exited with ${code} before listening\n${hubLog}`));
      });
    });
  });

  afterAll(async () => {
    if (hub && hub.exitCode === null && hub.signalCode === null) {
      const exited = new Promise((done) => hub!.once('exit', done));
      hub.kill('SIGTERM');
      const timer = setTimeout(() => hub!.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('run as written, in order, and print what they say', { timeout: SESSION_DEADLINE_MS + 5_000 }, async () => {
    const blocks = [README, ...CONTINUED].flatMap((file) =>
      shellBlocks(readFileSync(file, 'utf8'))
        .filter((b) => b.skip === undefined)
        .map((b) => ({ ...b, file: file.slice(ROOT.length) })),
    );
    const code = blocks.map((b) =>
      b.code
        .replace(/\b(127\.0\.0\.1|localhost):8080\b/g, `$1:${hubPort}`)
        .replace(/\b(127\.0\.0\.1|localhost):3000\b/g, `$1:${receiverPort}`)
        .replace(/\bPORT=3000\b/g, `PORT=${receiverPort}`),
    );
    const result: SessionResult = await runSession(code, {
      cwd: dir,
      env: cleanEnv({ CURL_HOME: dir }),
      deadlineMs: SESSION_DEADLINE_MS,
    });

    const report = (i: number): string =>
      `${blocks[i]!.file}, block at line ${blocks[i]!.line}:\n${blocks[i]!.code}\n--- printed ---\n${result.outputs[i] ?? '(nothing: it never started)'}`;
    expect(result.timedOut, `the session passed its ${SESSION_DEADLINE_MS} ms deadline\n${result.raw}`).toBe(false);
    blocks.forEach((_, i) => {
      expect(result.finished.includes(i), `this block failed (exit ${result.code})\n${report(i)}\n--- hub log ---\n${hubLog.slice(-3000)}`).toBe(true);
    });
    expect(result.code).toBe(0);

    blocks.forEach((block, i) => {
      const lines = result.outputs[i]!.split('\n');
      for (const expected of block.expected) {
        const pattern = expectedPattern(expected);
        expect(lines.some((l) => pattern.test(l.trimEnd())), `no line printed matches "# → ${expected}"\n${report(i)}`).toBe(true);
      }
    });
    // The quick start really published, subscribed and delivered.
    expect(blocks.flatMap((b) => b.expected).length).toBeGreaterThan(8);
    expect(result.raw).toMatch(/^HTTP\/1\.1 202 Accepted/m);
    expect(result.raw).toMatch(/^delivered$/m);
  });
});
