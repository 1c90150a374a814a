import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, type RealtimeConfig } from '../../src/config.js';
import { API_KEY, startHub, type TestHub } from '../../test/helpers/hub.js';

export { API_KEY };

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const quick = process.argv.includes('--quick');

/** Progress for humans goes to stderr; stdout carries only the one JSON result line. */
export const log = (...args: unknown[]): void => console.error('[bench]', ...args);

/**
 * The real app with durable defaults (synchronous=FULL) on a temp database, as the tests
 * start it; its logs (warn and up) are kept in memory, off stdout.
 */
export function startBenchHub(realtime: Partial<RealtimeConfig> = {}): Promise<TestHub> {
  return startHub({ config: { logLevel: 'warn', realtime: { ...loadConfig({}).realtime, ...realtime } } });
}

/**
 * Runs a load generator in its own process (the machine has 2 cores: the hub keeps one) and
 * resolves with the JSON it prints last on stdout.
 */
export function runChild<T>(script: string, args: string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'lib', script), ...args], {
      cwd: ROOT,
      env: { ...process.env, PUSHHUB_API_KEY: API_KEY },
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

/** Prints the one result line; a `--quick` run says so (its sizes are smaller than the targets'). */
export function report(result: {
  bench: string;
  ours: Record<string, unknown>;
  baseline: Record<string, unknown> | null;
  ratio: number | null;
  targets: Record<string, unknown>;
  pass: boolean;
}): void {
  process.stdout.write(`${JSON.stringify(quick ? { ...result, quick: true } : result)}\n`);
}
