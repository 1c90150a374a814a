import WebSocket from 'ws';
import { serverFrameSchemas } from '../../src/realtime/frames.js';

export type Frame = Record<string, unknown> & { op: string };
export interface EventFrame extends Frame {
  op: 'event';
  event: { id: string; channel: string; type: string; cursor: string; data: unknown };
}

/**
 * Every frame the hub sends must be one /asyncapi.json describes (it is generated from these
 * schemas): a frame that drifts fails the test that received it, as an uncaught error.
 */
function conformsToAsyncApi(frame: Frame): void {
  const schema = Object.hasOwn(serverFrameSchemas, frame.op) ? serverFrameSchemas[frame.op as keyof typeof serverFrameSchemas] : undefined;
  const result = schema?.safeParse(frame);
  if (!result?.success) {
    throw new Error(`the hub sent a frame /asyncapi.json does not describe: ${JSON.stringify(frame).slice(0, 300)} (${result?.error.message ?? 'unknown op'})`);
  }
}

/** A real `ws` client that records every frame and lets a test wait for the one it expects. */
export class TestSocket {
  readonly frames: Frame[] = [];
  /** When each event arrived (Date.now()), by event id. */
  readonly arrivedAt = new Map<string, number>();
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: Array<{ match: (f: Frame) => boolean; resolve: (f: Frame) => void }> = [];
  private nextId = 1;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString()) as Frame;
      conformsToAsyncApi(frame);
      this.frames.push(frame);
      if (frame.op === 'event') this.arrivedAt.set((frame as EventFrame).event.id, Date.now());
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(frame)) return true;
        w.resolve(frame);
        return false;
      });
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  /** Events received so far, optionally of one channel. */
  events(channel?: string): EventFrame['event'][] {
    return (this.frames.filter((f) => f.op === 'event') as EventFrame[])
      .map((f) => f.event)
      .filter((e) => channel === undefined || e.channel === channel);
  }

  send(frame: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(frame));
  }

  /** Sends a frame with a fresh `id` and resolves with the reply carrying it. */
  request(frame: Record<string, unknown>, timeoutMs = 5000): Promise<Frame> {
    const id = this.nextId++;
    const reply = this.next((f) => f.id === id, timeoutMs);
    this.send({ ...frame, id });
    return reply;
  }

  /** Resolves with the first frame (already received or to come) that matches. */
  next(match: (f: Frame) => boolean, timeoutMs = 5000): Promise<Frame> {
    const seen = this.frames.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames.slice(-5))}`)), timeoutMs);
      this.waiters.push({ match, resolve: (f) => (clearTimeout(timer), resolve(f)) });
    });
  }

  /** Waits until `n` events (of a channel) arrived. */
  async waitEvents(n: number, channel?: string, timeoutMs = 5000): Promise<EventFrame['event'][]> {
    const deadline = Date.now() + timeoutMs;
    while (this.events(channel).length < n) {
      if (Date.now() > deadline) throw new Error(`only ${this.events(channel).length} of ${n} events within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
    return this.events(channel);
  }

  close(): void {
    this.ws.close();
  }
}

/** Opens a WebSocket to the hub's /v1/ws with a credential (header or ?token=) and waits for it to open. */
export async function connect(
  hubUrl: string,
  credential?: { bearer?: string; query?: string },
  options: WebSocket.ClientOptions = {},
): Promise<TestSocket> {
  const url = new URL('/v1/ws', hubUrl.replace(/^http/, 'ws'));
  if (credential?.query) url.searchParams.set('token', credential.query);
  const headers = credential?.bearer ? { authorization: `Bearer ${credential.bearer}` } : undefined;
  const ws = new WebSocket(url, { headers, ...options });
  const socket = new TestSocket(ws);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return socket;
}
