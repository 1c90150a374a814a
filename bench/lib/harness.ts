import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildApp, type App } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';

export const API_KEY = 'bench-api-key-0123456789';
export const TOKEN_SECRET = 'bench-token-secret-0123456789abcdef012345';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const quick = process.argv.includes('--quick');

/** Progress for humans goes to stderr; stdout carries only the one JSON result line. */
export const log = (...args: unknown[]): void => console.error('[bench]', ...args);

export interface BenchHub {
  app: App;
  url: string;
  dir: string;
  close(): Promise<void>;
}

/** The real app with durable defaults (synchronous=FULL) on a temp database; logs at warn to stderr. */
export async function startBenchHub(realtime: Partial<Config['realtime']> = {}): Promise<BenchHub> {
  const dir = mkdtempSync(join(tmpdir(), 'pushhub-bench-'));
  const parsed = loadConfig({});
  const config = Object.freeze({
    ...parsed,
    port: 0,
    db: join(dir, 'pushhub.db'),
    apiKey: API_KEY,
    tokenSecret: TOKEN_SECRET,
    logLevel: 'warn',
    realtime: { ...parsed.realtime, ...realtime },
  }) as Config;
  const app = buildApp({ config, logger: createLogger('warn', process.stderr) });
  const url = await app.listen();
  return {
    app,
    url,
    dir,
    async close() {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Runs a load generator in its own process (the machine has 2 cores: the hub keeps one) and
 * resolves with the JSON it prints last on stdout.
 */
export function runChild<T>(script: string, args: string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'lib', script), ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const last = out.trim().split('\n').at(-1);
      if (code !== 0 || !last) return reject(new Error(`${script} exited with ${code}`));
      resolve(JSON.parse(last) as T);
    });
  });
}

/** The q-quantile (0..1) of unsorted numbers. */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export const round = (n: number, digits = 2): number => Number(n.toFixed(digits));

/** Prints the one result line. */
export function report(result: {
  bench: string;
  ours: Record<string, unknown>;
  baseline: Record<string, unknown> | null;
  ratio: number | null;
  targets: Record<string, unknown>;
  pass: boolean;
}): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
