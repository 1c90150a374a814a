import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemRandom } from '../../src/clock.js';
import type { NewEvent } from '../../src/domain/envelope.js';
import { HubError } from '../../src/errors.js';
import { GroupCommit } from '../../src/ingest/group-commit.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics, type Metrics } from '../../src/metrics.js';
import { openStore, type Store } from '../../src/store/index.js';

let dir: string;
let store: Store;
let metrics: Metrics;
let gc: GroupCommit;
let n = 0;
const event = (channel = 'gc'): NewEvent => ({
  id: `evt_${++n}`,
  channel,
  type: 't',
  occurredAt: 1,
  receivedAt: 1,
  data: '{}',
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pushhub-gc-'));
  store = openStore({ path: join(dir, 'p.db'), synchronous: 'FULL', busyTimeoutMs: 0, random: systemRandom });
  metrics = createMetrics();
  gc = new GroupCommit({ store, metrics, logger: createLogger('silent'), maxPendingEvents: 100 });
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const batchSizes = async () => {
  const h = (await metrics.commitBatchSize.get()).values;
  return { count: h.find((v) => v.metricName?.endsWith('_count'))?.value, sum: h.find((v) => v.metricName?.endsWith('_sum'))?.value };
};

describe('group commit', () => {
  it('commits everything submitted in one turn of the event loop in one transaction', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, () => gc.submit([event(), event()], 'http')));
    expect(await batchSizes()).toEqual({ count: 1, sum: 100 });
    const seqs = results.flat().map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  });

  it('tells listeners after the commit, with the whole batch in log order', async () => {
    const seen: number[][] = [];
    let inTransaction = 0;
    gc.onWrite((events) => (inTransaction += events.length));
    gc.onCommitted((events) => seen.push(events.map((e) => e.seq)));
    await Promise.all([gc.submit([event()], 'http'), gc.submit([event(), event()], 'ws')]);
    expect(inTransaction).toBe(3);
    expect(seen).toEqual([[1, 2, 3]]);
  });

  it('isolates a job that fails on its own, so the others of its batch still land', async () => {
    const ok1 = gc.submit([event()], 'http');
    const dup = gc.submit([{ ...event(), id: 'evt_same' }, { ...event(), id: 'evt_same' }], 'http');
    const ok2 = gc.submit([event()], 'http');
    await expect(dup).rejects.toThrow(/UNIQUE/);
    expect((await ok1)[0]!.seq).toBeGreaterThan(0);
    expect((await ok2)[0]!.seq).toBeGreaterThan(0);
    expect(store.events.getById('evt_same')).toBeUndefined();
  });

  it('refuses with 503 overloaded past the pending limit, and shutting_down once closed', async () => {
    const first = gc.submit(Array.from({ length: 100 }, () => event()), 'http');
    await expect(gc.submit([event()], 'http')).rejects.toMatchObject({ code: 'overloaded', retryAfterS: 1 });
    await first;
    gc.close();
    const refused = await gc.submit([event()], 'http').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(HubError);
    expect(refused).toMatchObject({ code: 'shutting_down' });
  });

  it('close() commits what is queued before refusing', async () => {
    const pending = gc.submit([event()], 'http');
    gc.close();
    expect((await pending)[0]!.seq).toBe(1);
  });
});

describe('durability ordering', () => {
  it('keeps an event invisible to readers until the sync that covers it returned', async () => {
    let inserted: { id: string; seq: number } | undefined;
    const { durable } = store.transactionThenSync(() => {
      inserted = store.events.insertMany([event('vis')])[0];
    });
    expect(store.events.getById(inserted!.id)).toBeUndefined();
    expect(store.events.listChannelAfter('vis', 0, 10)).toEqual([]);
    expect(store.events.headSeq()).toBe(0);
    await durable;
    store.events.markDurable(inserted!.seq);
    expect(store.events.getById(inserted!.id)?.seq).toBe(inserted!.seq);
    expect(store.events.headSeq()).toBe(inserted!.seq);
  });

  it('acknowledges commits in order even when many share a sync', async () => {
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        store.transactionThenSync(() => store.events.insertMany([event()])).durable.then(() => order.push(i)),
      ),
    );
    expect(order).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });
});

describe('insertMany', () => {
  it('gives the rows of a multi-row statement consecutive positions, in order, across chunk edges', () => {
    for (const n of [1, 49, 50, 51, 137]) {
      const events = Array.from({ length: n }, () => event('many'));
      const stored = store.transaction(() => store.events.insertMany(events));
      const seqs = stored.map((e) => e.seq);
      expect(seqs).toEqual(Array.from({ length: n }, (_, i) => seqs[0]! + i));
      store.events.markDurable(seqs.at(-1)!);
      for (const e of stored) expect(store.events.getById(e.id)?.seq).toBe(e.seq);
    }
  });
});
