import { afterEach, describe, expect, it } from 'vitest';
import { hubsOnOneDatabase, type TestHub } from '../helpers/hub.js';
import { createKey, revokeKey } from '../helpers/keys.js';
import { connect } from '../helpers/ws-client.js';

/** API keys with two hubs in this process on one database: a key made on one works on the other; revoked on one, refused on the other within a second. */
let cluster: Awaited<ReturnType<typeof hubsOnOneDatabase>> | undefined;

afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

async function twoHubs(): Promise<[TestHub, TestHub]> {
  cluster = await hubsOnOneDatabase(2);
  return [cluster.hubs[0]!, cluster.hubs[1]!];
}

const publishWith = async (hub: TestHub, key: string): Promise<number> =>
  (await hub.api('/v1/events', { body: { channel: 'k', type: 't', data: 1 }, headers: { authorization: `Bearer ${key}` } })).status;

/** Publishes through `hub` with `key` until refused; resolves with the ms it took from now. */
async function msUntilRefused(hub: TestHub, key: string, limitMs: number): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < limitMs) {
    const status = await publishWith(hub, key);
    if (status === 401) return performance.now() - start;
    expect(status).toBe(202);
  }
  throw new Error(`still accepted after ${limitMs} ms`);
}

describe('API keys on two hubs sharing one PostgreSQL database', () => {
  it('a key made through one hub works at once through the other; revoked through one, the other refuses it within a second', async () => {
    const [a, b] = await twoHubs();
    const key = await createKey(a, { name: 'shared', scopes: ['publish', 'read'] });
    expect(await publishWith(b, key.key)).toBe(202); // found in the database, though b had not heard of it yet
    expect(await publishWith(a, key.key)).toBe(202);
    const socket = await connect(b.url, { bearer: key.key });
    expect(await revokeKey(a, key.id)).toBe(204);
    expect(await publishWith(a, key.key)).toBe(401);
    expect(await msUntilRefused(b, key.key, 1000)).toBeLessThan(1000);
    expect(await socket.closed).toMatchObject({ code: 4001 }); // b's connections on the key go too
    expect((await (await b.api('/v1/keys')).json()) as unknown).toEqual({ keys: [] });
  });

  it('without the notification (lost while a listener was away), the keys_version poll still refuses a revoked key after one poll (1 s)', async () => {
    const [a, b] = await twoHubs();
    const key = await createKey(a, { name: 'shared', scopes: ['publish'] });
    expect(await publishWith(b, key.key)).toBe(202);
    expect(await publishWith(b, key.key)).toBe(202); // now held in b's memory
    // A revocation whose NOTIFY never arrives: only the version moves.
    await cluster!.db.pool.query(`WITH gone AS (DELETE FROM api_keys WHERE id = $1) UPDATE log_head SET keys_version = keys_version + 1`, [key.id]);
    expect(await msUntilRefused(b, key.key, 2500)).toBeLessThan(1000 + 500); // one poll interval (1 s) and a reload
  });
});
