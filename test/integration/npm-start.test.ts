import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { API_KEY, TOKEN_SECRET } from '../helpers/hub.js';

// `npm start` as a user runs it: npm → (exec'd shell →) scripts/start.mjs → the hub. The
// regression: npm passes a signal to its direct child only, and the hub, one shell further
// down, lived on re-parented to PID 1 holding the port and the database.
//
// It runs in a copy of the repository (sources, the dashboard's, scripts, package.json; node_modules linked)
// with no dist/: the first start has to build, and a build never rewrites the dist/ that
// other test files, running meanwhile, import.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pushhub-npmstart-'));
const REPO = join(dir, 'repo');
for (const entry of ['src', 'dashboard', 'scripts', 'package.json', 'tsconfig.json', 'tsconfig.build.json']) {
  cpSync(join(ROOT, entry), join(REPO, entry), { recursive: true });
}
symlinkSync(join(ROOT, 'node_modules'), join(REPO, 'node_modules'));
const STAMP = join(REPO, 'dist', '.build-stamp');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Started {
  npm: ChildProcess;
  hubPid: number;
  url: string;
  listening: Record<string, unknown>;
  logs: Record<string, unknown>[];
  stderr: () => string;
  exited: Promise<[number | null, NodeJS.Signals | null]>;
}

async function npmStart(args: string[]): Promise<Started> {
  const npm = spawn('npm', ['start', '--', ...args], {
    cwd: REPO,
    env: {
      ...process.env,
      PUSHHUB_DB: join(dir, 'pushhub.db'),
      PUSHHUB_PORT: '0',
      PUSHHUB_LOG_LEVEL: 'info',
      PUSHHUB_API_KEY: API_KEY,
      PUSHHUB_TOKEN_SECRET: TOKEN_SECRET,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const reap = (): void => void npm.kill('SIGKILL');
  process.once('exit', reap);
  npm.once('exit', () => process.off('exit', reap));
  const exited = once(npm, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let stderr = '';
  npm.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const logs: Record<string, unknown>[] = [];
  const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
    // A rebuild takes several seconds, more on a busy machine.
    const timer = setTimeout(() => reject(new Error(`npm start did not listen in time\n${stderr}`)), 90_000);
    createInterface({ input: npm.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return; // npm's own "> pushhub@… start" banner
      const entry = JSON.parse(line) as Record<string, unknown>;
      logs.push(entry);
      if (entry.msg === 'pushhub listening') {
        clearTimeout(timer);
        resolve(entry);
      }
    });
    npm.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited with ${code} before listening\n${stderr}`));
    });
  });
  return { npm, hubPid: Number(listening.pid), url: String(listening.address), listening, logs, stderr: () => stderr, exited };
}

/** Whether a process with this pid still exists (a zombie holds nothing: it counts as gone). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function goneWithin(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

async function expectStoppedBy(started: Started, signal: NodeJS.Signals): Promise<void> {
  const { npm, hubPid, url } = started;
  expect(alive(hubPid)).toBe(true);
  npm.kill(signal);
  const timer = setTimeout(() => npm.kill('SIGKILL'), 15_000);
  const [code, bySignal] = await started.exited;
  clearTimeout(timer);
  // The hub's own handler ran (a graceful stop, exit 0), and npm passed its code on.
  expect({ code, bySignal }).toEqual({ code: 0, bySignal: null });
  expect(started.logs).toContainEqual(expect.objectContaining({ msg: 'shutting down', signal }));
  expect(started.logs).toContainEqual(expect.objectContaining({ msg: 'pushhub stopped' }));
  expect(await goneWithin(hubPid, 3000), `hub ${hubPid} still running after npm exited`).toBe(true);
  await expect(fetch(`${url}/v1/health`)).rejects.toThrow(); // nobody holds the port
}

describe('npm start', () => {
  it('builds a missing dist/, passes arguments through, and SIGTERM to npm stops the hub', async () => {
    const started = await npmStart(['--synchronous', 'NORMAL']);
    expect(started.stderr()).toContain('building dist/');
    expect(started.listening.synchronous).toBe('NORMAL'); // from `npm start -- --synchronous NORMAL`
    await expectStoppedBy(started, 'SIGTERM');
    expect(readFileSync(STAMP, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
  }, 120_000);

  it('does not rebuild a current dist/, and SIGINT to npm stops the hub', async () => {
    const stampBefore = statSync(STAMP).mtimeMs;
    const cliBefore = statSync(join(REPO, 'dist', 'cli.js')).mtimeMs;
    const started = await npmStart([]);
    expect(started.stderr()).not.toContain('building dist/');
    expect(statSync(STAMP).mtimeMs).toBe(stampBefore);
    expect(statSync(join(REPO, 'dist', 'cli.js')).mtimeMs).toBe(cliBefore);
    await expectStoppedBy(started, 'SIGINT');
  }, 60_000);

  it('stops the hub when npm itself dies without passing a signal on (SIGKILL)', async () => {
    const started = await npmStart([]);
    started.npm.kill('SIGKILL');
    await started.exited;
    expect(await goneWithin(started.hubPid, 8000), `hub ${started.hubPid} outlived npm`).toBe(true);
  }, 60_000);
});
