import { ok, type Envelope } from './api/client';
import type { Session } from './session';

/** The hub's /metrics (Prometheus text, public), summed over labels where asked. */
export interface MetricSample {
  at: number;
  /** metric name → label string (`{a="b"}` or '') → value */
  values: Map<string, Map<string, number>>;
}

export async function scrapeMetrics(): Promise<MetricSample> {
  const text = await (await fetch('/metrics')).text();
  const values = new Map<string, Map<string, number>>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const series = values.get(m[1]!) ?? new Map<string, number>();
    series.set(m[2] ?? '', Number(m[3]));
    values.set(m[1]!, series);
  }
  return { at: Date.now(), values };
}

/** The sum of a metric's series whose labels contain `match` (e.g. `outcome="success"`). */
export function metric(sample: MetricSample, name: string, match = ''): number {
  let sum = 0;
  for (const [labels, v] of sample.values.get(name) ?? []) if (labels.includes(match)) sum += v;
  return sum;
}

/** A frame of the WebSocket protocol the tails pass on (events, presence changes, errors). */
export type LiveFrame =
  | { op: 'event'; event: Envelope }
  | { op: 'join' | 'leave'; channel: string; member: { sub: string; info?: unknown } }
  | { op: 'error'; code: string; message: string }
  | { op: 'subscribed'; channel: string }
  | { op: 'state'; state: 'connecting' | 'live' | 'polling' | 'reconnecting' };

const TOKEN_TTL_S = 900;

/**
 * Follows channels live from now on and calls `onFrame` for each frame. With a key that may
 * mint subscriber tokens, over the hub's WebSocket with a short-lived token granting just
 * those channels (the key itself never goes into a URL); resumes from the last cursor after
 * a drop. Otherwise it polls GET /v1/channels/<channel>/events every second with the key in
 * the Authorization header. Returns the stop function.
 */
export function follow(session: Session, channels: string[], onFrame: (frame: LiveFrame) => void): () => void {
  return session.canMintTokens ? followWs(session, channels, onFrame) : followPolling(session, channels, onFrame);
}

function followWs(session: Session, channels: string[], onFrame: (frame: LiveFrame) => void): () => void {
  let stopped = false;
  let ws: WebSocket | undefined;
  let retryMs = 250;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let refusals = 0; // upgrades closed before opening, in a row
  let fallback: (() => void) | undefined;
  const cursors = new Map<string, string>();

  const connect = async (): Promise<void> => {
    onFrame({ op: 'state', state: cursors.size ? 'reconnecting' : 'connecting' });
    let token: string;
    try {
      ({ token } = await ok(session.api.POST('/v1/tokens', { body: { channels, ttl_s: TOKEN_TTL_S } })));
    } catch (err) {
      onFrame({ op: 'error', code: 'token', message: (err as Error).message });
      return retry();
    }
    if (stopped) return;
    const url = new URL(`/v1/ws?token=${encodeURIComponent(token)}`, location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(url);
    ws = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      retryMs = 250;
      channels.forEach((channel, i) => socket.send(JSON.stringify({ op: 'subscribe', channel, cursor: cursors.get(channel), id: i + 1 })));
    };
    socket.onmessage = (message) => {
      const frame = JSON.parse(String(message.data)) as LiveFrame;
      if (frame.op === 'event') cursors.set(frame.event.channel, frame.event.cursor);
      if (frame.op === 'subscribed') onFrame({ op: 'state', state: 'live' });
      onFrame(frame);
    };
    socket.onclose = () => {
      if (ws !== socket) return;
      // Refused before opening, again and again: most likely PUSHHUB_CORS_ORIGINS is a list
      // without this hub's own origin. Polling needs no Origin check.
      refusals = opened ? 0 : refusals + 1;
      if (refusals >= 3) {
        ws = undefined;
        fallback = followPolling(session, channels, onFrame);
        return;
      }
      retry();
    };
  };
  const retry = (): void => {
    if (stopped) return;
    onFrame({ op: 'state', state: 'reconnecting' });
    timer = setTimeout(() => void connect(), retryMs);
    retryMs = Math.min(retryMs * 2, 10_000);
  };
  void connect();
  return () => {
    stopped = true;
    clearTimeout(timer);
    fallback?.();
    const socket = ws;
    ws = undefined;
    if (!socket) return;
    // Closed while still connecting, the browser logs a warning: let it open, then close it.
    if (socket.readyState === WebSocket.CONNECTING) {
      socket.onopen = () => socket.close(1000);
      socket.onmessage = null;
    } else if (socket.readyState !== WebSocket.CLOSED) socket.close(1000);
  };
}

function followPolling(session: Session, channels: string[], onFrame: (frame: LiveFrame) => void): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const cursors = new Map<string, string>();
  const page = (channel: string, after?: string) =>
    ok(session.api.GET('/v1/channels/{channel}/events', { params: { path: { channel }, query: { after, limit: '1000' } } }));

  const poll = async (): Promise<void> => {
    try {
      for (const channel of channels) {
        let after = cursors.get(channel);
        const fromNow = after === undefined;
        for (;;) {
          const result = await page(channel, after);
          if (stopped) return;
          if (!fromNow) for (const event of result.events) onFrame({ op: 'event', event });
          after = result.next_cursor;
          if (!result.has_more) break;
        }
        cursors.set(channel, after);
      }
      onFrame({ op: 'state', state: 'polling' });
    } catch (err) {
      onFrame({ op: 'error', code: 'poll', message: (err as Error).message });
    }
    if (!stopped) timer = setTimeout(() => void poll(), 1000);
  };
  onFrame({ op: 'state', state: 'connecting' });
  void poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
