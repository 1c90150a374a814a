import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const BENCH_API_KEY = 'bench-api-key-0123456789';
export const BENCH_TOKEN_SECRET = 'bench-token-secret-0123456789abcdef0123';

export const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** What every benchmark prints: one JSON line on stdout (everything else goes to stderr). */
export interface BenchResult {
  bench: string;
  ours: Record<string, number>;
  baseline: Record<string, number>;
  /** ours / baseline on the headline figure (higher is better). */
  ratio: number;
  /** The goals, e.g. `{ ratio: 0.8, p99_ms: 10 }`. */
  targets: Record<string, number>;
  pass: boolean;
  notes?: string;
}

export const quick = process.argv.includes('--quick');

export function emit(result: BenchResult): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

export function log(...args: unknown[]): void {
  console.error(...args);
}

export function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Nearest-rank percentile of unsorted samples. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export interface ChildServer {
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * The real hub (compiled, durable defaults, fresh database) in a child process; `config` as
 * in config.ts. Needs `npm run build` first (`npm run bench` does it).
 */
export function startHub(config: Record<string, unknown> = {}): Promise<ChildServer> {
  return startChild('bench/servers/hub.mjs', [JSON.stringify(config)]);
}

/**
 * Runs a script as a child process (so the load generator and the server do not share an
 * event loop; `.ts` through tsx, `.mjs` plain) and resolves once it prints
 * `{"ready":"<url>"}` on stdout.
 */
export async function startChild(script: string, args: string[] = [], env: Record<string, string> = {}): Promise<ChildServer> {
  const loader = script.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const child = spawn(process.execPath, [...loader, script, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const msg = JSON.parse(line) as { ready?: string };
        if (msg.ready) resolve(msg.ready);
      } catch {
        /* not ours */
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
