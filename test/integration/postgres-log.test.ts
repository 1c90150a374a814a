import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NewEvent } from '../../src/domain/envelope.js';
import { appendEvents, headSeq, HEAD_CHANNEL, initLog, readChannel, readLog } from '../../src/store/postgres/log.js';
import { migrate, SchemaTooNewError } from '../../src/store/postgres/migrate.js';
import { freshDatabase, type TestDatabase } from '../helpers/postgres.js';

let db: TestDatabase;
let counter = 0;

const event = (channel: string, data = `{"n":${counter}}`): NewEvent => ({
  id: `evt_${(counter++).toString().padStart(8, '0')}`,
  channel,
  type: 't',
  occurredAt: 1_700_000_000_000,
  receivedAt: 1_700_000_000_000,
  data,
});

beforeAll(async () => {
  db = await freshDatabase();
  const client = await db.pool.connect();
  try {
    await migrate(client);
  } finally {
    client.release();
  }
});
afterAll(async () => db?.drop());

describe('PostgreSQL migrations', () => {
  it('apply once, are a no-op the second time, and refuse a schema newer than the code', async () => {
    const client = await db.pool.connect();
    try {
      expect(await migrate(client)).toBe(2); // the newest migration this code knows
      await client.query("INSERT INTO pushhub_migrations (version, name) VALUES (9999, '9999_future.sql')");
      await expect(migrate(client)).rejects.toThrow(SchemaTooNewError);
      await client.query('DELETE FROM pushhub_migrations WHERE version = 9999');
    } finally {
      client.release();
    }
  });

  it('the epoch is set once: a second hub initialising the same database gets the first one', async () => {
    const first = await initLog(db.pool, () => 'aaaaaaaaaa');
    expect(await initLog(db.pool, () => 'bbbbbbbbbb')).toBe(first);
  });
});

describe('the PostgreSQL log', () => {
  it('keeps data byte for byte (key order, duplicate keys, spacing) and reads a channel oldest first', async () => {
    const odd = '{"b":1, "a":[1,2],"b":2}';
    const first = await appendEvents(db.pool, [event('keep.a'), event('keep.b', odd), event('keep.a')]);
    const page = await readChannel(db.pool, 'keep.b', 0, 10);
    expect(page).toHaveLength(1);
    expect(page[0]).toMatchObject({ seq: first + 1, channel: 'keep.b', data: odd });
    expect((await readChannel(db.pool, 'keep.a', first, 10)).map((e) => e.seq)).toEqual([first + 2]);
  });

  it('concurrent appends get gapless positions in commit order: a reader never sees a later position before an earlier one', async () => {
    const start = await headSeq(db.pool);
    const writers = 8;
    const batches = 40;
    let writing = true;
    const seen: number[] = [];
    const reader = (async () => {
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      let tail = start;
      try {
        while (writing || tail < start + writers * batches * 3) {
          // Read before the query: one sent while the writers were still at it may miss the last commits.
          const writersDone = !writing;
          const { rows } = await client.query<{ seq: string }>('SELECT seq FROM events WHERE seq > $1 ORDER BY seq', [tail]);
          for (const { seq } of rows) {
            // Every row after the tail is the next position: had a later commit been visible
            // before an earlier one, this reader would have moved past the earlier one for ever.
            expect(Number(seq)).toBe(tail + 1);
            tail += 1;
            seen.push(tail);
          }
          if (writersDone && rows.length === 0) break;
        }
      } finally {
        await client.end();
      }
    })();
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        for (let b = 0; b < batches; b++) await appendEvents(db.pool, [event(`race.${w}`), event(`race.${w}`), event(`race.${w}`)]);
      }),
    );
    writing = false;
    await reader;
    expect(seen).toHaveLength(writers * batches * 3);
    expect(await headSeq(db.pool)).toBe(start + writers * batches * 3);
    const all = await readLog(db.pool, start, 10_000);
    expect(all.map((e) => e.seq)).toEqual(seen);
    // Each writer's events are in its own order.
    for (let w = 0; w < writers; w++) {
      const ids = all.filter((e) => e.channel === `race.${w}`).map((e) => e.id);
      expect(ids).toEqual([...ids].sort());
    }
  }, 30_000);

  it('a rolled-back append gives its positions back: no gap', async () => {
    const before = await headSeq(db.pool);
    const duplicate = event('dup');
    await appendEvents(db.pool, [duplicate]);
    await expect(appendEvents(db.pool, [event('dup'), duplicate])).rejects.toThrow(/duplicate key/);
    const next = await appendEvents(db.pool, [event('dup')]);
    expect(next).toBe(before + 2);
  });

  it('notifies the new head at commit, to a dedicated listener', async () => {
    const listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    try {
      await listener.query(`LISTEN ${HEAD_CHANNEL}`);
      const heard = new Promise<string>((resolve) => listener.once('notification', (n) => resolve(n.payload ?? '')));
      const first = await appendEvents(db.pool, [event('n'), event('n')]);
      expect(Number(await heard)).toBe(first + 1);
    } finally {
      await listener.end();
    }
  });
});
