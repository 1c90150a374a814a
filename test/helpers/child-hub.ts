import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { isPostgresUrl } from '../../src/config.js';
import { API_KEY, onPostgres, TOKEN_SECRET } from './hub.js';
import { databaseFor } from './postgres.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ChildHub {
  url: string;
  process: ChildProcess;
  /** Log lines (parsed JSON) the child wrote so far. */
  logs: Record<string, unknown>[];
  /** Everything the child wrote, stdout and stderr, as text. */
  output(): string;
  /** SIGKILL: no chance to flush anything. */
  kill(): Promise<void>;
  /** SIGTERM and wait; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Runs the real CLI (`pushhub serve`, from source through tsx) as a child process on port 0
 * on `db`, and resolves once it listens. `db` is a postgres:// URL (used as it is), or a
 * SQLite file path: on PostgreSQL runs (`PUSHHUB_TEST_STORE=postgres`) the path stands for a
 * fresh database of its own on the run's server, the same one each time the path is given,
 * so a hub restarted on its path finds its data (kept until the run's server goes).
 */
export async function startChildHub(db: string, env: Record<string, string> = {}): Promise<ChildHub> {
  if (onPostgres && !isPostgresUrl(db)) db = (await databaseFor(db)).url;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PUSHHUB_DB: db,
      PUSHHUB_PORT: '0',
      PUSHHUB_API_KEY: API_KEY,
      PUSHHUB_TOKEN_SECRET: TOKEN_SECRET,
      PUSHHUB_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // A test that fails before kill() or stop() must not leave a hub running after this process.
  const reap = (): void => void child.kill('SIGKILL');
  process.once('exit', reap);
  child.once('exit', () => process.off('exit', reap));
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  let stdout = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  const exited = once(child, 'exit');
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL'); // not left running: nobody holds it to kill it later
      reject(new Error(`child hub did not start in time\n${stderr}\n${stdout.slice(-3000)}`));
    }, 30_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(entry);
      if (entry.msg === 'pushhub listening') {
        clearTimeout(timer);
        resolve(String(entry.address));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`child hub exited with ${code} before listening\n${stderr}`));
    });
  });
  return {
    url,
    process: child,
    logs,
    output: () => stdout + stderr,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      child.kill('SIGTERM');
      const [code] = await exited;
      return code as number | null;
    },
  };
}
