import { createHmac, timingSafeEqual } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { systemRandom } from '../../src/clock.js';
import { createSigner, newSecret } from '../../src/domain/signatures.js';

const body = '{"id":"evt_1","data":{"é":"☃"}}';
const now = () => Math.floor(Date.now() / 1000);

describe('secrets', () => {
  it('are whsec_ + base64 of at least 24 random bytes, never twice the same', () => {
    const a = newSecret(systemRandom);
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]+={0,2}$/);
    expect(Buffer.from(a.slice(6), 'base64').length).toBeGreaterThanOrEqual(24);
    expect(newSecret(systemRandom)).not.toBe(a);
  });
});

describe('standard scheme', () => {
  it('verifies with the standardwebhooks package', () => {
    const secret = newSecret(systemRandom);
    const ts = now();
    const headers: Record<string, string> = { 'webhook-id': 'evt_1', 'webhook-timestamp': String(ts), ...createSigner('standard', [secret])('evt_1', ts, body) };
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  });

  it('during a rotation carries two entries, each verifying with its own secret', () => {
    const [next, previous] = [newSecret(systemRandom), newSecret(systemRandom)];
    const ts = now();
    const headers: Record<string, string> = { 'webhook-id': 'evt_1', 'webhook-timestamp': String(ts), ...createSigner('standard', [next, previous])('evt_1', ts, body) };
    expect(headers['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(() => new Webhook(next).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(previous).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(newSecret(systemRandom)).verify(body, headers)).toThrow();
  });

  it('a changed body, id or timestamp does not verify', () => {
    const secret = newSecret(systemRandom);
    const ts = now();
    const sig = createSigner('standard', [secret])('evt_1', ts, body);
    const wh = new Webhook(secret);
    expect(() => wh.verify(body + ' ', { 'webhook-id': 'evt_1', 'webhook-timestamp': String(ts), ...sig })).toThrow();
    expect(() => wh.verify(body, { 'webhook-id': 'evt_2', 'webhook-timestamp': String(ts), ...sig })).toThrow();
    expect(() => wh.verify(body, { 'webhook-id': 'evt_1', 'webhook-timestamp': String(ts + 1), ...sig })).toThrow();
  });
});

/** Stripe's published scheme: `t=<ts>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, any v1 may match. */
function verifyStripe(header: string, payload: string, secret: string, toleranceS = 300): boolean {
  const parts = header.split(',').map((kv) => kv.split('=') as [string, string]);
  const t = Number(parts.find(([k]) => k === 't')?.[1]);
  if (!Number.isInteger(t) || Math.abs(now() - t) > toleranceS) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${payload}`).digest();
  return parts.some(([k, v]) => k === 'v1' && v.length === 64 && timingSafeEqual(Buffer.from(v, 'hex'), expected));
}

describe('stripe scheme', () => {
  it('sends x-signature: t=<ts>,v1=<hex>, verifiable from the published format', () => {
    const secret = newSecret(systemRandom);
    const ts = now();
    const headers = createSigner('stripe', [secret])('evt_1', ts, body);
    expect(Object.keys(headers)).toEqual(['x-signature']);
    expect(headers['x-signature']).toMatch(new RegExp(`^t=${ts},v1=[0-9a-f]{64}$`));
    expect(verifyStripe(headers['x-signature']!, body, secret)).toBe(true);
    expect(verifyStripe(headers['x-signature']!, body + 'x', secret)).toBe(false);
  });

  it('during a rotation carries one v1 per secret', () => {
    const [next, previous] = [newSecret(systemRandom), newSecret(systemRandom)];
    const header = createSigner('stripe', [next, previous])('evt_1', now(), body)['x-signature']!;
    expect(header.match(/v1=/g)).toHaveLength(2);
    expect(verifyStripe(header, body, next)).toBe(true);
    expect(verifyStripe(header, body, previous)).toBe(true);
  });
});
