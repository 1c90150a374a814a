import { describe, expect, it } from 'vitest';
import { tokenClaimsSchema } from '../../src/auth/token-claims.js';
import type { HubError } from '../../src/errors.js';
import { createTokenService } from '../../src/auth/tokens.js';
import { manualClock, TOKEN_SECRET } from '../helpers/hub.js';
import { handMadeJwt } from '../helpers/tokens.js';

const code = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    return (err as HubError).code;
  }
  return 'ok';
};

describe('token claims', () => {
  it('requires exp and channels, checks patterns, ignores other claims', () => {
    expect(tokenClaimsSchema.safeParse({ exp: 1, channels: ['a.*', 'b.>'], iss: 'x' }).success).toBe(true);
    expect(tokenClaimsSchema.safeParse({ exp: 1700000000.5, channels: ['a'] }).success).toBe(true); // NumericDate may be fractional
    expect(tokenClaimsSchema.safeParse({ exp: '1700000000', channels: ['a'] }).success).toBe(false);
    expect(tokenClaimsSchema.safeParse({ channels: [] }).success).toBe(false);
    expect(tokenClaimsSchema.safeParse({ exp: 1 }).success).toBe(false);
    expect(tokenClaimsSchema.safeParse({ exp: 1, channels: ['a.>.b'] }).success).toBe(false);
    expect(tokenClaimsSchema.safeParse({ exp: 1, channels: [], publish: ['a..b'] }).success).toBe(false);
  });
});

describe('token service', () => {
  const clock = manualClock();
  const tokens = createTokenService(TOKEN_SECRET, clock);
  const now = Math.floor(clock.now() / 1000);

  it('mints tokens it verifies into grants', async () => {
    const { token, expiresAt } = await tokens.mint({ channels: ['orders.*'], publish: ['chat.>'], sub: 'u1', ttl_s: 60 });
    expect(expiresAt).toBe((now + 60) * 1000);
    const p = await tokens.verify(token);
    if (p.kind !== 'subscriber') throw new Error('expected a subscriber');
    expect(p.sub).toBe('u1');
    expect(p.canSubscribe('orders.eu')).toBe(true);
    expect(p.canSubscribe('orders')).toBe(false);
    expect(p.canPublish('chat.a.b')).toBe(true);
    expect(p.canPublish('orders.eu')).toBe(false);
  });

  it('accepts a token from another JWT library; refuses expired, forged, alg none, bad claims', async () => {
    expect(await code(tokens.verify(handMadeJwt({ exp: now + 10, channels: ['a'] })))).toBe('ok');
    expect(await code(tokens.verify(handMadeJwt({ exp: now - 1, channels: ['a'] })))).toBe('unauthorized');
    expect(await code(tokens.verify(handMadeJwt({ exp: now + 10, channels: ['a'] }, 'another-secret-another-secret-xx')))).toBe('unauthorized');
    expect(await code(tokens.verify(handMadeJwt({ exp: now + 10, channels: ['a'] }, TOKEN_SECRET, 'none')))).toBe('unauthorized');
    expect(await code(tokens.verify(handMadeJwt({ channels: ['a'] })))).toBe('unauthorized');
    expect(await code(tokens.verify(handMadeJwt({ exp: now + 10, channels: 'a' })))).toBe('unauthorized');
    expect(await code(tokens.verify('not.a.jwt'))).toBe('unauthorized');
  });

  it('expires by the injected clock', async () => {
    const { token } = await tokens.mint({ channels: ['a'], ttl_s: 5 });
    clock.advance(5_000);
    expect(await code(tokens.verify(token))).toBe('unauthorized');
  });
});
