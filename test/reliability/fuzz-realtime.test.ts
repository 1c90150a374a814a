import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { cursorLike, deepJson, expectSuccessOrCleanRefusal, nameLike } from '../helpers/fuzz.js';
import { API_KEY, startHub, type TestHub } from '../helpers/hub.js';
import { watchWrites, type WriteWatcher } from '../helpers/store-writes.js';
import { mintToken, publish } from '../helpers/tokens.js';
import { connect, type Frame, type TestSocket } from '../helpers/ws-client.js';
import { FRAME_ERROR_CODES } from '../../src/realtime/frames.js';

/**
 * Fuzzing the real-time side: random and malformed WebSocket frames, and random SSE resume
 * positions. The hub never crashes and never closes a connection but as docs/protocol.md says (1009 for
 * an oversized frame); each frame gets exactly one answer, the success op or an `error` with a
 * documented code; a refused frame writes nothing.
 */

const MAX_FRAME = 64 * 1024;
let hub: TestHub;
let writes: WriteWatcher;
let validCursor: string;
let token: string;

beforeAll(async () => {
  hub = await startHub({
    config: {
      logLevel: 'warn',
      // channel.occupied/vacated off: they are events written a moment after a subscribe, which the write watcher would see.
      realtime: { ...loadConfig({}).realtime, maxFrameBytes: MAX_FRAME, maxSubscriptionsPerConnection: 20, publishRatePerS: 50, occupancyEvents: false },
    },
  });
  writes = watchWrites(hub);
  for (let i = 0; i < 5; i++) validCursor = (await publish(hub, 'fuzz', i)).cursor;
  token = await mintToken(hub, { channels: ['fuzz', 'fuzz.>', 'orders'], publish: ['fuzz.*'] });
});
afterAll(async () => {
  writes?.close();
  await hub?.close();
});

/** The documented `error` codes for a bad frame, and the ingest refusals a publish can meet: never an internal error. */
const DOCUMENTED: readonly string[] = FRAME_ERROR_CODES.filter((code) => code !== 'internal_error');
const SUCCESS: Record<string, string> = { subscribe: 'subscribed', unsubscribe: 'unsubscribed', publish: 'ack', ping: 'pong' };

// ── arbitraries ──────────────────────────────────────────────────────────────────────────

const idLike = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(1e308, -0, 0.5), fc.string({ maxLength: 5 }), fc.constant(null), fc.boolean());
const opLike = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('subscribe', 'unsubscribe', 'publish', 'ping') },
  { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'toString', 'PING', 'event', 'ack', 'error', '') },
  { weight: 1, arbitrary: fc.anything() },
);
const frameObject = fc.record(
  {
    op: opLike,
    id: idLike,
    channel: fc.oneof({ weight: 4, arbitrary: nameLike }, { weight: 1, arbitrary: fc.anything() }),
    cursor: fc.oneof({ weight: 4, arbitrary: cursorLike('abcdefghij-5') }, { weight: 1, arbitrary: fc.anything() }),
    type: fc.oneof({ weight: 4, arbitrary: nameLike }, { weight: 1, arbitrary: fc.anything() }),
    data: fc.jsonValue({ maxDepth: 4 }),
    occurred_at: fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), fc.string({ maxLength: 30 })),
    extra: fc.anything(),
  },
  { requiredKeys: ['op'] },
);
/** One client message: mostly near-valid frames, also any JSON, any text, deep JSON, binary, fragments. */
type Message = { kind: 'text'; text: string } | { kind: 'binary'; bytes: Uint8Array } | { kind: 'fragments'; parts: string[] };
const text = fc.oneof(
  { weight: 10, arbitrary: frameObject.map((f) => JSON.stringify(f)) },
  { weight: 2, arbitrary: fc.json({ maxDepth: 3 }) },
  { weight: 2, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 1, arbitrary: deepJson(10_000).filter((d) => d.length < MAX_FRAME - 100).map((d) => `{"op":"publish","channel":"fuzz.deep","type":"t","data":${d}}`) },
  { weight: 1, arbitrary: fc.constantFrom('', 'null', '[]', '{}', '"ping"', '1', '{"op":"ping"} x', '{"op":"ping","op":"publish"}', '{"op":"ping","id":1e999}') },
);
const message: fc.Arbitrary<Message> = fc.oneof(
  { weight: 12, arbitrary: text.map((t): Message => ({ kind: 'text', text: t })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes): Message => ({ kind: 'binary', bytes })) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(text, fc.array(fc.nat(), { minLength: 1, maxLength: 4 }))
      .map(([t, cuts]): Message => {
        const at = [...new Set(cuts.map((c) => c % (t.length + 1)))].sort((a, b) => a - b);
        return { kind: 'fragments', parts: [0, ...at].map((start, i) => t.slice(start, at[i] ?? t.length)) };
      }),
  },
);

// ── driving a connection ─────────────────────────────────────────────────────────────────

function sendMessage(socket: TestSocket, m: Message): void {
  if (m.kind === 'text') socket.ws.send(m.text);
  else if (m.kind === 'binary') socket.ws.send(m.bytes, { binary: true });
  else m.parts.forEach((part, i) => socket.ws.send(part, { fin: i === m.parts.length - 1 }));
}

/** The id a hub can echo: a finite number `id` of a JSON object frame. */
function idOf(m: Message): { op: unknown; id: number | undefined } {
  const raw = m.kind === 'text' ? m.text : m.kind === 'fragments' ? m.parts.join('') : undefined;
  try {
    const value = raw === undefined ? undefined : (JSON.parse(raw) as unknown);
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const { op, id } = value as { op?: unknown; id?: unknown };
      return { op, id: typeof id === 'number' && Number.isFinite(id) ? id : undefined };
    }
  } catch {
    // not JSON: no id to echo
  }
  return { op: undefined, id: undefined };
}

/** The one reply to the frame sent when the socket had seen `seen` frames (events are not replies). */
async function replyAfter(socket: TestSocket, seen: number): Promise<Frame> {
  const replies = () => socket.frames.slice(seen).filter((f) => f.op !== 'event');
  const deadline = Date.now() + 5000;
  while (replies().length === 0) {
    if (socket.ws.readyState !== socket.ws.OPEN) throw new Error(`connection closed: ${JSON.stringify(await socket.closed)}`);
    if (Date.now() > deadline) throw new Error('no reply within 5 s');
    await new Promise((r) => setTimeout(r, 2));
  }
  return replies()[0]!;
}

async function expectOneCleanReply(socket: TestSocket, m: Message): Promise<Frame> {
  const seen = socket.frames.length;
  const before = writes.version();
  sendMessage(socket, m);
  const reply = await replyAfter(socket, seen);
  const { op, id } = idOf(m);
  if (reply.op === 'error') {
    expect(DOCUMENTED, JSON.stringify(reply)).toContain(reply.code);
    expect(reply.message).toBeTypeOf('string');
    expect(writes.version(), 'a refused frame wrote something').toBe(before);
  } else {
    expect(reply.op, JSON.stringify(reply)).toBe(SUCCESS[op as string]);
  }
  if (id !== undefined) expect(reply.id).toBe(id);
  // Exactly one reply: nothing else but events arrives before the next frame.
  await new Promise((r) => setImmediate(r));
  expect(socket.frames.slice(seen).filter((f) => f.op !== 'event')).toHaveLength(1);
  expect(socket.ws.readyState).toBe(socket.ws.OPEN);
  return reply;
}

// ── the properties ───────────────────────────────────────────────────────────────────────

describe('fuzzing WebSocket frames', () => {
  it.each([
    ['the API key', () => ({ bearer: API_KEY })],
    ['a subscriber token', () => ({ query: token })],
  ])('random frames over one connection with %s: one clean answer each, connection kept', async (_name, credential) => {
    const socket = await connect(hub.url, credential());
    await fc.assert(
      fc.asyncProperty(message, async (m) => {
        await expectOneCleanReply(socket, m);
      }),
      { numRuns: 300 },
    );
    // (Not socket.request: its ids may collide with the random ones already answered.)
    expect((await expectOneCleanReply(socket, { kind: 'text', text: '{"op":"ping"}' })).op).toBe('pong');
    socket.close();
    await socket.closed;
  });

  it('subscribes with random valid-looking cursors and channels: subscribed (resumed or not) or a clean error', async () => {
    const socket = await connect(hub.url, { bearer: API_KEY });
    await fc.assert(
      fc.asyncProperty(fc.oneof(nameLike, fc.constant('fuzz')), cursorLike(validCursor), fc.integer(), async (channel, cursor, id) => {
        const reply = await expectOneCleanReply(socket, { kind: 'text', text: JSON.stringify({ op: 'subscribe', channel, cursor, id }) });
        if (reply.op === 'subscribed') await expectOneCleanReply(socket, { kind: 'text', text: JSON.stringify({ op: 'unsubscribe', channel }) });
      }),
      { numRuns: 150 },
    );
    socket.close();
  });

  it('frames around the size limit: an answer up to maxFrameBytes, close 1009 beyond', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: MAX_FRAME - 40, max: MAX_FRAME + 40 }), fc.boolean(), async (size, binary) => {
        const socket = await connect(hub.url, { bearer: API_KEY });
        const prefix = '{"op":"publish","channel":"fuzz.big","type":"t","data":"';
        const payload = prefix + 'x'.repeat(Math.max(0, size - prefix.length - 2)) + '"}';
        expect(Buffer.byteLength(payload)).toBe(size);
        const before = writes.version();
        if (size > MAX_FRAME) {
          sendMessage(socket, binary ? { kind: 'binary', bytes: Buffer.from(payload) } : { kind: 'text', text: payload });
          expect((await socket.closed).code).toBe(1009);
          expect(writes.version()).toBe(before);
        } else {
          await expectOneCleanReply(socket, binary ? { kind: 'binary', bytes: Buffer.from(payload) } : { kind: 'text', text: payload });
          socket.close();
        }
      }),
      { numRuns: 20 },
    );
  });

  it('a text frame that is not UTF-8 fails the connection with 1007, as RFC 6455 requires', async () => {
    const socket = await connect(hub.url, { bearer: API_KEY });
    socket.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    expect((await socket.closed).code).toBe(1007);
  });

  it('the hub is still whole afterwards', async () => {
    expect((await fetch(`${hub.url}/healthz`)).status).toBe(200);
    const socket = await connect(hub.url, { bearer: API_KEY });
    expect(await socket.request({ op: 'publish', channel: 'fuzz.after', type: 't', data: 1 })).toMatchObject({ op: 'ack' });
    socket.close();
  });
});

describe('fuzzing SSE resume positions', () => {
  it('random Last-Event-ID, ?after=, channels and tokens: a stream, or a clean refusal', async () => {
    const headerValue = fc.string({ maxLength: 60, unit: 'grapheme-ascii' }).map((s) => s.trim());
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.constant('fuzz'), fc.constant('orders'), nameLike),
        fc.option(fc.oneof(cursorLike(validCursor), headerValue), { nil: undefined }),
        fc.option(cursorLike(validCursor), { nil: undefined }),
        fc.constantFrom('key', 'token', 'none', 'bad'),
        async (channel, lastEventId, after, credential) => {
          const query = new URLSearchParams();
          if (after !== undefined) query.set('after', after);
          if (credential === 'token') query.set('token', token);
          if (credential === 'bad') query.set('token', `${token}x`);
          const headers: Record<string, string> = { accept: 'text/event-stream' };
          if (credential === 'key') headers.authorization = `Bearer ${API_KEY}`;
          if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
          const before = writes.version();
          const res = await fetch(`${hub.url}/v1/channels/${encodeURIComponent(channel)}/sse?${query}`, { headers });
          if (res.status === 200) {
            expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
            await res.body!.cancel();
          } else {
            // 404: fetch resolves dot segments (a channel "." or "..") before sending.
            expect([400, 401, 403, 404]).toContain(res.status);
            await expectSuccessOrCleanRefusal(res, writes, before, []);
          }
        },
      ),
      { numRuns: 200 },
    );
    // Every stream was cancelled: none is left behind.
    const deadline = Date.now() + 3000;
    while (hub.app.realtime.connections().sse > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(hub.app.realtime.connections().sse).toBe(0);
  });
});
