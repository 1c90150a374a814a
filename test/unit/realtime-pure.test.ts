import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Writable } from 'node:stream';
import * as wsModule from 'ws';
import { backoffDelay, DEFAULT_BACKOFF } from '../../src/client/backoff.js';
import { endpoint } from '../../src/client/index.js';
import { withToken } from '../../src/client/websocket.js';
import { TokenBucket } from '../../src/realtime/rate-limit.js';
import { encodeTextFrame } from '../../src/realtime/ws-frame.js';
import { isoTime } from '../../src/domain/iso-time.js';

describe('backoffDelay (full jitter)', () => {
  it('stays in [0, min(max, initial·factor^n))', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 60 }), fc.double({ min: 0, max: 0.999999, noNaN: true }), (attempt, r) => {
        const d = backoffDelay(attempt, DEFAULT_BACKOFF, () => r);
        const ceiling = Math.min(DEFAULT_BACKOFF.maxMs, DEFAULT_BACKOFF.initialMs * 2 ** attempt);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(ceiling);
      }),
    );
    expect(backoffDelay(0, DEFAULT_BACKOFF, () => 0.5)).toBe(250);
    expect(backoffDelay(3, DEFAULT_BACKOFF, () => 0.5)).toBe(2000);
    expect(backoffDelay(30, DEFAULT_BACKOFF, () => 0.5)).toBe(15_000);
  });
});

describe('TokenBucket', () => {
  it('allows a burst, then the rate', () => {
    const b = new TokenBucket(10, 10, 0);
    for (let i = 0; i < 10; i++) expect(b.take(0)).toBe(true);
    expect(b.take(0)).toBe(false);
    expect(b.take(99)).toBe(false); // 0.99 of a token
    expect(b.take(100)).toBe(true);
    expect(b.take(100_000)).toBe(true); // refilled, capped at the burst
    let n = 1;
    while (b.take(100_000)) n++;
    expect(n).toBe(10);
  });
});

/** ws's frame parser (exported at runtime, absent from its types). */
const { Receiver } = wsModule as unknown as { Receiver: new (options: { isServer: boolean }) => Writable };

describe('encodeTextFrame', () => {
  it('is read back by ws’s own receiver at every length class', async () => {
    for (const size of [0, 1, 125, 126, 65_535, 65_536, 200_000]) {
      const text = 'é'.repeat(Math.floor(size / 2)) + 'x'.repeat(size % 2);
      const receiver = new Receiver({ isServer: false });
      const got = new Promise<string>((resolve) => receiver.on('message', (data: Buffer) => resolve(data.toString())));
      receiver.write(encodeTextFrame(text));
      expect(await got).toBe(text);
    }
  });
});

describe('client URLs', () => {
  it('maps the hub URL to its WebSocket endpoint', () => {
    expect(endpoint('http://127.0.0.1:8080')).toBe('ws://127.0.0.1:8080/v1/ws');
    expect(endpoint('https://hub.example.com/push/')).toBe('wss://hub.example.com/push/v1/ws');
    expect(endpoint('ws://h/v1/ws')).toBe('ws://h/v1/ws');
    expect(withToken('ws://h/v1/ws', 'a.b.c')).toBe('ws://h/v1/ws?token=a.b.c');
    expect(withToken('ws://h/v1/ws', undefined)).toBe('ws://h/v1/ws');
  });
});

describe('isoTime', () => {
  it('equals toISOString everywhere, memo or not', () => {
    fc.assert(
      fc.property(fc.integer({ min: -62_167_219_200_000 - 5000, max: 253_402_300_799_999 + 5000 }), fc.integer({ min: 0, max: 2500 }), (ms, step) => {
        expect(isoTime(ms)).toBe(new Date(ms).toISOString());
        expect(isoTime(ms + step)).toBe(new Date(ms + step).toISOString());
      }),
    );
    for (const ms of [0, 999, 1000, -1, -1001, Date.parse('2026-01-20T12:00:01.123Z')]) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
  });
});
