import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { buildApp, type App } from '../../src/app.js';
import { systemClock, systemRandom, type Clock, type Random } from '../../src/clock.js';
import { configSchema, type Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { databaseFor, freshDatabase, type TestDatabase } from './postgres.js';
import { ResponseContract } from './response-contract.js';

export const API_KEY = 'test-api-key-0123456789';
export const TOKEN_SECRET = 'test-token-secret-0123456789abcdef0123456789';

export interface TestHub {
  app: App;
  url: string;
  config: Config;
  dir: string;
  /** Every log line the hub wrote, parsed. */
  logs: Record<string, unknown>[];
  /** fetch against the hub with the API key (unless headers override it). */
  api(path: string, init?: { method?: string; body?: unknown; headers?: Record<string, string> }): Promise<Response>;
  close(): Promise<void>;
}

export interface TestHubOptions {
  /** Config keys as in config.ts (camelCase); nested sections may be partial. */
  config?: Record<string, unknown>;
  dir?: string;
  clock?: Clock;
  random?: Random;
  /**
   * The store to run on: default `PUSHHUB_TEST_STORE` (`sqlite` unless set; the `postgres`
   * vitest project sets it). On PostgreSQL each hub gets a fresh database, dropped at close;
   * a hub given `dir` gets the database of that folder, so a restart finds its data again.
   */
  store?: TestStore;
  /** A PostgreSQL URL to run on instead (a server of the test's own); the test owns that database. */
  database?: string;
}

export type TestStore = 'sqlite' | 'postgres';

/** The store the hubs of this run use unless told otherwise. */
export const testStore: TestStore = process.env.PUSHHUB_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';
export const onPostgres = testStore === 'postgres';

/** Starts the real app on 127.0.0.1, port 0, on a fresh database in a temp folder. */
export async function startHub(opts: TestHubOptions = {}): Promise<TestHub> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'pushhub-test-'));
  const store = opts.store ?? testStore;
  const file = join(dir, 'pushhub.db');
  const pgDb = store === 'postgres' && !opts.database ? await databaseFor(file) : undefined;
  const config = configSchema.parse({
    port: 0,
    db: opts.database ?? pgDb?.url ?? file,
    apiKey: API_KEY,
    tokenSecret: TOKEN_SECRET,
    logLevel: 'debug',
    ...opts.config,
  }) as Config;
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const app = await buildApp({
    config,
    logger: createLogger(config.logLevel, sink),
    clock: opts.clock ?? systemClock,
    random: opts.random ?? systemRandom,
  });
  // Every JSON response of a documented route is checked against /openapi.json.
  const contract = new ResponseContract();
  contract.install(app.server);
  const url = await app.listen();
  contract.use((await (await fetch(`${url}/openapi.json`)).json()) as Record<string, unknown>);
  return {
    app,
    url,
    config,
    dir,
    logs,
    api(path, init = {}) {
      const headers: Record<string, string> = { authorization: `Bearer ${API_KEY}`, ...init.headers };
      let body: string | undefined;
      if (init.body !== undefined) {
        body = typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
        headers['content-type'] ??= 'application/json';
      }
      return fetch(url + path, { method: init.method ?? (body === undefined ? 'GET' : 'POST'), headers, body });
    },
    async close() {
      await app.close();
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
      if (!opts.dir) await pgDb?.drop();
      if (contract.violations.length > 0) {
        throw new Error(`responses that break /openapi.json:\n${contract.violations.join('\n')}`);
      }
    },
  };
}

/** A clock tests move by hand. */
export function manualClock(start = Date.parse('2026-01-20T12:00:00.000Z')): Clock & { advance(ms: number): void; set(ms: number): void } {
  let now = start;
  return {
    now: () => now,
    advance: (ms) => void (now += ms),
    set: (ms) => void (now = ms),
  };
}

/** `count` hubs in this process on one fresh PostgreSQL database; `close` stops those still in `hubs` and drops it. */
export async function hubsOnOneDatabase(
  count: number,
  opts: Omit<TestHubOptions, 'database'> = {},
): Promise<{ hubs: TestHub[]; db: TestDatabase; close(): Promise<void> }> {
  const db = await freshDatabase();
  const hubs: TestHub[] = [];
  const close = async (): Promise<void> => {
    for (const h of hubs) await h.close();
    await db.drop();
  };
  try {
    for (let i = 0; i < count; i++) hubs.push(await startHub({ ...opts, database: db.url }));
  } catch (err) {
    await close();
    throw err;
  }
  return { hubs, db, close };
}
