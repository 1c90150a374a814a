import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startChildHub } from '../helpers/child-hub.js';
import { publishBurst, readChannel, seeded, type Acked } from '../helpers/load.js';
import { waitFor } from '../helpers/webhooks.js';

const CHANNELS = ['crash.a', 'crash.b', 'crash.c'];

const dirs: string[] = [];
/** A database path in a temp folder removed after this file's tests. */
function tempDb(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return join(dir, 'p.db');
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Every acknowledged event is present exactly once, and the log keeps the acknowledged order. */
async function expectAllPresent(url: string, acked: Acked[]): Promise<number> {
  let total = 0;
  for (const channel of CHANNELS) {
    const stored = await readChannel(url, channel);
    const ids = stored.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length); // exactly once
    const position = new Map(ids.map((id, i) => [id, i]));
    const mine = acked.filter((a) => a.channel === channel);
    for (const a of mine) expect(position.has(a.id), `acknowledged ${a.id} lost`).toBe(true);
    // Acknowledged cursors and stored order agree.
    const byCursor = [...mine].sort((x, y) => position.get(x.id)! - position.get(y.id)!);
    expect(byCursor.map((a) => a.cursor)).toEqual(stored.filter((e) => mine.some((a) => a.id === e.id)).map((e) => e.cursor));
    total += stored.length;
  }
  return total;
}

describe('durability across crashes', () => {
  it.each([1, 2])('SIGKILL in a publish burst loses no acknowledged event (seed %i)', async (seed) => {
    const random = seeded(seed);
    const db = tempDb('pushhub-crash-');
    const hub = await startChildHub(db);
    let killed = false;
    const acked: Acked[] = [];
    const burst = publishBurst(hub.url, { workers: 16, channel: (i) => CHANNELS[i % 3]!, stop: () => killed, random, acked });
    await new Promise((r) => setTimeout(r, 300 + random() * 700));
    // And not before 50 were acknowledged: on a loaded machine the burst can be thin.
    await waitFor(async () => acked.length > 50, 20_000, 'more than 50 events acknowledged before the kill');
    await hub.kill();
    killed = true;
    await burst;

    const again = await startChildHub(db);
    try {
      const total = await expectAllPresent(again.url, acked);
      expect(total).toBeGreaterThanOrEqual(acked.length);
    } finally {
      await again.stop();
    }
  });

  it('SIGTERM under load exits 0 and keeps every acknowledged event', async () => {
    const db = tempDb('pushhub-term-');
    const hub = await startChildHub(db);
    let stopped = false;
    const burst = publishBurst(hub.url, { workers: 16, channel: (i) => CHANNELS[i % 3]!, stop: () => stopped, random: seeded(7) });
    await new Promise((r) => setTimeout(r, 500));
    const code = await hub.stop();
    stopped = true;
    const acked = await burst;
    expect(code).toBe(0);
    const again = await startChildHub(db);
    try {
      await expectAllPresent(again.url, acked);
    } finally {
      await again.stop();
    }
  });
});
