import { describe, expect, it } from 'vitest';
import { hashKey, isExpired, isKeyShaped, keyCreateSchema, LastUsedBatch, LAST_USED_RESOLUTION_MS, newKey } from '../../src/auth/keys.js';
import { allows, createAuthenticator, type Principal } from '../../src/auth/principal.js';
import { grants, SCOPES, WS_OP_SCOPES, type Scope } from '../../src/auth/scopes.js';
import type { Random } from '../../src/clock.js';
import { compilePatterns } from '../../src/domain/patterns.js';
import { isHubError } from '../../src/errors.js';

const fixedRandom = (byte: number): Random => ({ float: () => 0.5, bytes: (n) => Buffer.alloc(n, byte) });

describe('the scope table', () => {
  const table: Record<Scope, Scope[]> = {
    publish: ['publish'],
    read: ['read'],
    subscriptions: ['subscriptions', 'read'],
    tokens: ['tokens'],
    admin: [...SCOPES],
  };
  it.each(SCOPES)('%s grants exactly what docs/protocol.md says', (held) => {
    expect(SCOPES.filter((needed) => grants([held], needed)).sort()).toEqual([...table[held]].sort());
  });

  it('several scopes grant the union; none grants nothing', () => {
    expect(SCOPES.filter((n) => grants(['publish', 'tokens'], n)).sort()).toEqual(['publish', 'tokens']);
    expect(SCOPES.filter((n) => grants([], n))).toEqual([]);
  });

  it('WebSocket ops: subscribe and presence need read, publish needs publish, the rest nothing', () => {
    expect(WS_OP_SCOPES).toEqual({ subscribe: 'read', presence: 'read', publish: 'publish', unsubscribe: null, ping: null });
  });

  it('a key is judged by its scopes, a token by its grants and never by a scope', () => {
    const key = (scopes: Scope[]): Principal => ({ kind: 'server', keyId: 'key_1', scopes, expiresAt: undefined });
    expect(allows(key(['read']), { read: 'anything' })).toBe(true);
    expect(allows(key(['read']), { publish: 'anything' })).toBe(false);
    expect(allows(key(['publish']), { publish: 'x' })).toBe(true);
    expect(allows(key(['subscriptions']), { scope: 'read' })).toBe(true);
    const token: Principal = {
      kind: 'subscriber',
      sub: 'u',
      info: undefined,
      canSubscribe: compilePatterns(['orders.*']),
      canPublish: compilePatterns([]),
      expiresAt: Date.now() + 60_000,
    };
    expect(allows(token, { read: 'orders.eu' })).toBe(true);
    expect(allows(token, { read: 'billing' })).toBe(false);
    expect(allows(token, { publish: 'orders.eu' })).toBe(false);
    for (const scope of SCOPES) expect(allows(token, { scope })).toBe(false);
  });
});

describe('key format', () => {
  it('phk_ and 32 random bytes in base64url; stored as SHA-256 hex and a short prefix', () => {
    const { key, hash, prefix } = newKey(fixedRandom(0xfb));
    expect(key).toBe(`phk_${Buffer.alloc(32, 0xfb).toString('base64url')}`);
    expect(key).toMatch(/^phk_[A-Za-z0-9_-]{43}$/);
    expect(hash).toBe(hashKey(key));
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(prefix).toBe(key.slice(0, 10));
    expect(newKey(fixedRandom(1)).key).not.toBe(key);
  });

  it.each([
    ['an issued key', `phk_${'A'.repeat(43)}`, true],
    ['one character short', `phk_${'A'.repeat(42)}`, false],
    ['one character long', `phk_${'A'.repeat(44)}`, false],
    ['a character outside base64url', `phk_${'A'.repeat(42)}+`, false],
    ['another prefix', `PHK_${'A'.repeat(43)}`, false],
    ['a JWT', 'eyJhbGciOiJIUzI1NiJ9.e30.sig', false],
  ])('%s: shaped like a key → %s', (_name, value, shaped) => {
    expect(isKeyShaped(value)).toBe(shaped);
  });
});

describe('expiry', () => {
  it('a key is refused from its expires_at on; none never expires', () => {
    expect(isExpired({ expiresAt: null }, Number.MAX_SAFE_INTEGER)).toBe(false);
    expect(isExpired({ expiresAt: 1000 }, 999)).toBe(false);
    expect(isExpired({ expiresAt: 1000 }, 1000)).toBe(true);
  });

  it('the authenticator refuses an expired key by its clock, 401, and counts it', async () => {
    let now = 0;
    const outcomes: string[] = [];
    const key = `phk_${'A'.repeat(43)}`;
    const stored = { id: 'key_1', name: 'k', scopes: ['read' as const], prefix: 'phk_AAAAAA', hash: hashKey(key), createdAt: 0, expiresAt: 1000, lastUsedAt: null };
    const auth = createAuthenticator({
      rootKey: 'root-key-0123456789',
      keys: { find: async (k) => (hashKey(k) === stored.hash ? stored : undefined), used: () => undefined },
      clock: { now: () => now },
      onOutcome: (o) => outcomes.push(o),
    });
    expect(await auth.authenticate(key)).toMatchObject({ kind: 'server', keyId: 'key_1', scopes: ['read'], expiresAt: 1000 });
    now = 1000;
    const err = await auth.authenticate(key).catch((e: unknown) => e);
    expect(isHubError(err) && err.code).toBe('unauthorized');
    expect(await auth.authenticate('root-key-0123456789')).toMatchObject({ keyId: 'root', scopes: ['admin'] });
    expect(auth.authorize({ kind: 'server', keyId: 'key_1', scopes: ['read'], expiresAt: undefined }, { scope: 'admin' })).toBe(false);
    expect(outcomes).toEqual(['unauthorized', 'forbidden']);
  });

  it('POST /v1/keys takes an ISO time with an offset', () => {
    expect(keyCreateSchema.safeParse({ name: 'k', scopes: ['read'], expires_at: '2030-01-01T00:00:00+02:00' }).success).toBe(true);
    expect(keyCreateSchema.safeParse({ name: 'k', scopes: ['read'], expires_at: '2030-01-01' }).success).toBe(false);
  });
});

describe('last-used batching', () => {
  const minute = LAST_USED_RESOLUTION_MS;

  it('writes each key at most once a minute, and once per batch however often it is used', () => {
    const batch = new LastUsedBatch();
    batch.touch('a', 0, null);
    batch.touch('a', 10, null);
    batch.touch('b', 20, null);
    expect(batch.take()).toEqual([{ id: 'a', at: 0 }, { id: 'b', at: 20 }]);
    expect(batch.take()).toEqual([]);
    batch.touch('a', minute - 1, null);
    expect(batch.take()).toEqual([]);
    batch.touch('a', minute, null);
    batch.touch('a', minute + 5, null);
    expect(batch.take()).toEqual([{ id: 'a', at: minute }]);
  });

  it('starts from the last_used_at the store had; a forgotten (revoked) key is not written', () => {
    const batch = new LastUsedBatch();
    batch.touch('a', 5 * minute, 5 * minute - 1000);
    expect(batch.take()).toEqual([]);
    batch.touch('a', 6 * minute, 5 * minute - 1000);
    batch.forget('a');
    expect(batch.take()).toEqual([]);
  });
});
