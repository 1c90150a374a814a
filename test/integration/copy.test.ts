import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { startHub } from '../helpers/hub.js';
import { closedPort, createSubscription, FAST_RETRY, publish, waitFor } from '../helpers/webhooks.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pushhub-copy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `pushhub copy` from the built CLI: exit code and output. */
async function copy(from: string, to: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['dist/cli.js', 'copy', '--from', from, '--to', to], { cwd: ROOT, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Every row of a table, in a stable order, from a database file. */
function rows(db: string, table: string, order: string): unknown[] {
  const conn = new Database(db, { readonly: true });
  try {
    return conn.prepare(`SELECT * FROM ${table} ORDER BY ${order}`).all();
  } finally {
    conn.close();
  }
}

interface Page {
  events: { id: string; cursor: string }[];
  next_cursor: string;
}

describe('pushhub copy (SQLite)', () => {
  it('copies a running hub online: the copy is a consistent prefix of the log, and a cursor taken before resumes on it', async () => {
    const hub = await startHub({ dir: join(dir, 'live') });
    const before: { id: string; cursor: string }[] = [];
    for (let i = 0; i < 30; i++) before.push(await publish(hub, 'copy.live'));
    const cursor = before[9]!.cursor;

    // A burst goes on while the copy is taken.
    let publishing = true;
    const burst = (async () => {
      let n = 0;
      while (publishing && n < 2000) await Promise.all(Array.from({ length: 10 }, () => publish(hub, 'copy.live').then(() => n++)));
    })();
    await new Promise((r) => setTimeout(r, 50));
    const target = join(dir, 'live-copy', 'pushhub.db');
    const result = await copy(hub.config.db, target);
    publishing = false;
    await burst;
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout) as { copied: { events: number; epoch: string } };
    expect(summary.copied.events).toBeGreaterThanOrEqual(30);
    expect(summary.copied.epoch).toBe(hub.app.store.epoch);
    expect(statSync(target).mode & 0o777).toBe(0o600);
    await hub.close();

    // The copy holds exactly the first N events of the source, same ids, same positions.
    const source = rows(hub.config.db, 'events', 'seq') as { seq: number; id: string }[];
    const copied = rows(target, 'events', 'seq') as { seq: number; id: string }[];
    expect(copied.length).toBe(summary.copied.events);
    expect(copied).toEqual(source.slice(0, copied.length));

    // A hub on the copy resumes the old cursor with the events after it, with their cursors.
    const onCopy = await startHub({ dir: join(dir, 'live-copy') });
    const page = (await (await onCopy.api(`/v1/channels/copy.live/events?after=${cursor}&limit=1000`)).json()) as Page;
    expect(page.events.slice(0, 20)).toEqual(before.slice(10).map(({ id, cursor: c }) => expect.objectContaining({ id, cursor: c })));
    expect(page.events).toHaveLength(copied.length - 10);
    await onCopy.close();
  }, 60_000);

  it('keeps subscriptions with their secrets and deliveries with their state and attempts', async () => {
    const hub = await startHub({ dir: join(dir, 'full'), config: { allowPrivateUrls: true } });
    const sub = await createSubscription(hub, { url: `http://127.0.0.1:${await closedPort()}/`, channels: ['copy.>'], retry: FAST_RETRY });
    for (let i = 0; i < 5; i++) await publish(hub, 'copy.full');
    await waitFor(async () => (rows(hub.config.db, 'delivery_attempts', 'delivery_seq, n').length >= 5 ? true : undefined), 10_000, 'attempts recorded');
    await hub.close();

    const target = join(dir, 'full-copy', 'pushhub.db');
    const result = await copy(hub.config.db, target);
    expect(result.code, result.stderr).toBe(0);
    for (const [table, order] of [
      ['subscriptions', 'id'],
      ['deliveries', 'seq'],
      ['delivery_attempts', 'delivery_seq, n'],
      ['events', 'seq'],
      ['settings', 'key'],
    ] as const) {
      expect(rows(target, table, order), table).toEqual(rows(hub.config.db, table, order));
    }
    expect((rows(target, 'subscriptions', 'id') as { secret: string }[])[0]!.secret).toBe(sub.secret);
  }, 30_000);

  it('refuses a target that is not empty, a missing source, a URL of another scheme and an unreachable server, writing nothing', async () => {
    const hub = await startHub({ dir: join(dir, 'refusals') });
    await hub.close();
    const occupied = join(dir, 'occupied.db');
    writeFileSync(occupied, 'something');
    const notEmpty = await copy(hub.config.db, occupied);
    expect(notEmpty.code).toBe(1);
    expect(notEmpty.stderr).toContain('is not empty');
    const missing = await copy(join(dir, 'nope.db'), join(dir, 'never.db'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no such database');
    const other = await copy(hub.config.db, 'mysql://u:hunter2@127.0.0.1/hub');
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('--to mysql://u:REDACTED@127.0.0.1/hub: neither a SQLite file nor a postgres://');
    // A PostgreSQL server that is not there: named, its password never printed.
    const unreachable = await copy(hub.config.db, `postgres://u:hunter2@127.0.0.1:${await closedPort()}/hub`);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/--to postgres:\/\/u:REDACTED@127\.0\.0\.1:\d+\/hub: cannot connect/);
    for (const r of [other, unreachable]) expect(r.stdout + r.stderr).not.toContain('hunter2');
  });
});
