import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cpus, release, totalmem, type as osType } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { API_KEY, TOKEN_SECRET, startHub, type TestHub } from '../../test/helpers/hub.js';

export { API_KEY, TOKEN_SECRET };

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** `--quick`: a seconds-long smoke run for CI (smaller sizes); never a judge of speed. */
export const quick = process.argv.includes('--quick');

/** Progress for humans goes to stderr; stdout carries only the one JSON result line. */
export const log = (...args: unknown[]): void => console.error('[bench]', ...args);

export const round = (n: number, digits = 2): number => Number(n.toFixed(digits));

/** What a run was measured on, recorded next to its figures. */
export function machine(): { cpus: number; cpu: string; memory_gib: number; os: string } {
  return { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memory_gib: Math.round(totalmem() / 2 ** 30), os: `${osType()} ${release()}` };
}

/** Nearest-rank percentile (0..100) of unsorted samples. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = Float64Array.from(samples).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** What every benchmark prints: one JSON line on stdout. */
export interface BenchResult {
  bench: string;
  ours: Record<string, unknown>;
  /** The same-run baseline, or null where there is none (memory per connection). */
  baseline: Record<string, unknown> | null;
  /** ours / baseline on the headline figure (higher is better), or null without a baseline. */
  ratio: number | null;
  /** The goals, e.g. `{ ratio: 0.8, p99_ms: 10 }`. */
  targets: Record<string, unknown>;
  pass: boolean;
  notes?: string;
  quick?: boolean;
}

/** Prints the one result line; a `--quick` run says so. */
export function report(result: BenchResult): void {
  process.stdout.write(`${JSON.stringify(quick ? { ...result, quick: true } : result)}\n`);
}

/**
 * The real app (durable defaults, temp database) in this process, as the tests start it;
 * for benchmarks whose load generator runs in a child process.
 */
export function startHubInProcess(config: Record<string, unknown> = {}): Promise<TestHub> {
  return startHub({ config: { logLevel: 'warn', ...config } });
}

export interface ChildServer {
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * The real hub, compiled (no TypeScript loader in its hot path), in a child process with a
 * fresh database; for benchmarks whose load generator runs here. Needs `npm run build`.
 */
export function startHubProcess(config: Record<string, unknown> = {}, nodeArgs: string[] = []): Promise<ChildServer> {
  return startChild('bench/servers/hub.mjs', [JSON.stringify({ apiKey: API_KEY, tokenSecret: TOKEN_SECRET, ...config })], nodeArgs);
}

/**
 * Runs a server script as a child process (`.ts` through tsx, `.mjs` plain; `nodeArgs`
 * before it, e.g. `--expose-gc`) and resolves once it prints `{"ready":"<url>"}` on stdout.
 */
export async function startChild(script: string, args: string[] = [], nodeArgs: string[] = []): Promise<ChildServer> {
  const loader = script.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const child = spawn(process.execPath, [...nodeArgs, ...loader, script, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  // A benchmark that fails before stop() must not leave its server running after it.
  const reap = (): void => void child.kill('SIGKILL');
  process.once('exit', reap);
  child.once('exit', () => process.off('exit', reap));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const msg = JSON.parse(line) as { ready?: string };
        if (msg.ready) resolve(msg.ready);
      } catch {
        /* not the ready line */
      }
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code} before it was ready`)));
  });
  return {
    url,
    process: child,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * Runs a load generator from bench/lib in its own process (the machine has 2 cores: the hub
 * keeps one) and resolves with the JSON it prints last on stdout.
 */
export function runChild<T>(script: string, args: string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `bench/lib/${script}`, ...args], {
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
