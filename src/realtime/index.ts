import type { FastifyInstance } from 'fastify';
import type { Clock } from '../clock.js';
import type { RealtimeConfig } from '../config.js';
import type { CursorCodec } from '../domain/cursor.js';
import { HUB_CHANNELS } from '../domain/operational.js';
import type { OriginCheck } from '../domain/origins.js';
import type { StoredEvent } from '../domain/envelope.js';
import { ROOT_KEY_ID, type Authenticator } from '../auth/principal.js';
import type { Publisher } from '../ingest/publisher.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Store } from '../store/index.js';
import type { RealtimeContext } from './context.js';
import { createRealtimeMetrics } from './metrics.js';
import { serverFrame } from './frames.js';
import { HubPresence, type Presence } from './hub-presence.js';
import type { PresenceNotice } from './presence.js';
import { ChannelRegistry } from './registry.js';
import type { Sink } from './sink.js';
import { encodeTextFrame } from './ws-frame.js';
import { sseRoutes, type SseStream } from './sse.js';
import { WriteScheduler } from './write-queue.js';
import { WsServer } from './ws-server.js';
import { CloseCode } from './ws-session.js';

export interface RealtimeDeps {
  config: RealtimeConfig;
  originAllowed: OriginCheck;
  store: Store;
  codec: CursorCodec;
  publisher: Publisher;
  auth: Authenticator;
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
}

/** The live half of the hub: WebSocket and SSE subscribers fed from committed batches. */
export interface Realtime {
  /** Adds the SSE route and the WebSocket upgrade to the server (before it listens). */
  attach(server: FastifyInstance): void;
  /** The group-commit listener: fans a committed batch out, in log order. */
  onCommitted(events: readonly StoredEvent[]): void;
  /** Starts the keepalive and heartbeat timers. */
  start(): void;
  /**
   * Refuses new connections, lets in-flight WebSocket publishes get their ack, closes every
   * WebSocket with 1001 and ends every SSE stream. Call before the HTTP server closes: it
   * waits for these connections.
   */
  close(): Promise<void>;
  /** For /readyz: null when ready. */
  readiness(): string | null;
  /** Open connections, by transport. */
  connections(): { ws: number; sse: number };
  /** Who is on each channel (GET /v1/channels/<channel>/presence reads it). */
  readonly presence: Presence;
  /** Ends the connections opened with a stored API key that no longer exists (revoked): WebSocket close 4001, SSE stream ended. */
  dropRevoked(has: (keyId: string) => boolean): void;
}

/**
 * Sends a presence notice to the channel's subscriptions that asked for presence, through
 * their sinks: in order with the events, and under the same send-buffer limit.
 */
function tellPresence(registry: ChannelRegistry, notice: PresenceNotice): void {
  const { channel } = notice;
  let texts: string[];
  if (notice.kind === 'changes') {
    texts = [...notice.left.map((sub) => serverFrame.leave(channel, sub)), ...notice.joined.map((m) => serverFrame.join(channel, m))];
  } else if (notice.kind === 'truncated') {
    texts = [serverFrame.presence(undefined, channel, { count: notice.count, members: undefined })];
  } else {
    texts = [serverFrame.presence(undefined, channel, { count: notice.count, members: notice.members })];
  }
  let frames: Buffer[] | undefined;
  const touched = new Set<Sink>();
  for (const sub of registry.of(channel)) {
    if (!sub.presence || !sub.active) continue;
    frames ??= texts.map(encodeTextFrame);
    for (const bytes of frames) sub.sink.enqueueBytes(bytes);
    touched.add(sub.sink);
  }
  for (const sink of touched) sink.flush(true);
}

export function createRealtime(deps: RealtimeDeps): Realtime {
  const { config, metrics, logger } = deps;
  const registry = new ChannelRegistry(deps.codec);
  const follows = (channel: string): boolean => {
    for (const sub of registry.of(channel)) if (sub.presence && sub.active) return true;
    return false;
  };
  const presence = new HubPresence({
    store: deps.store,
    graceMs: config.presenceGraceMs,
    coalesceMs: config.presenceCoalesceMs,
    maxMembers: config.presenceMaxMembers,
    heartbeatMs: config.presenceHeartbeatMs,
    expiryMs: config.presenceExpiryMs,
    follows,
    onNotice: (notice) => tellPresence(registry, notice),
    // channel.occupied / channel.vacated on $hub.channels, from the occupancy presence keeps.
    onOccupancy: (channel, change) => {
      const event = { channel: HUB_CHANNELS.channels, type: `channel.${change}`, data: { channel } } as const;
      deps.store.appendOperational([event], deps.clock.now()).catch((err: unknown) => {
        logger.warn({ err, channel, change }, 'channel occupancy event not written');
      });
    },
    logger: logger.child({ module: 'presence' }),
  });
  // Off: no occupancy is booked or written at all.
  if (config.occupancyEvents) registry.onOccupancy = (channel, occupied) => presence.occupy(channel, occupied);
  const streams = new Set<SseStream>();
  const count = (): number => ws.sessions.size + streams.size;
  const ctx: RealtimeContext = {
    ...deps,
    registry,
    presence,
    writes: new WriteScheduler(config.writeDelayMs, config.writeMaxBytes),
    metrics: createRealtimeMetrics(metrics.registry, {
      connections: (transport) => (transport === 'ws' ? ws.sessions.size : streams.size),
      subscriptions: () => registry.size,
      bufferedBytes: () => {
        let total = 0;
        for (const s of ws.sessions) total += s.buffered();
        for (const s of streams) total += s.buffered();
        return total;
      },
    }),
  };
  const ws = new WsServer(ctx, count);
  let heartbeat: NodeJS.Timeout | undefined;
  let state: 'new' | 'running' | 'closing' = 'new';

  return {
    attach(server) {
      sseRoutes(server, { ctx, streams, connectionCount: count });
      ws.attach(server.server);
    },
    onCommitted(events) {
      const { ws: toWs, sse: toSse } = registry.fanOut(events);
      // Counted per batch, not per send: a labelled counter costs more than the send itself.
      if (toWs > 0) ctx.metrics.delivered.inc({ transport: 'ws', phase: 'live' }, toWs);
      if (toSse > 0) ctx.metrics.delivered.inc({ transport: 'sse', phase: 'live' }, toSse);
    },
    start() {
      state = 'running';
      ws.start();
      presence.start();
      heartbeat = setInterval(() => {
        for (const stream of streams) stream.heartbeat();
      }, config.sseHeartbeatMs);
      heartbeat.unref();
    },
    async close() {
      state = 'closing';
      clearInterval(heartbeat);
      for (const stream of streams) stream.end();
      await ws.close();
      await presence.close();
      logger.debug('realtime connections closed');
    },
    readiness: () => (state === 'running' ? null : state === 'new' ? 'not started' : 'shutting down'),
    connections: () => ({ ws: ws.sessions.size, sse: streams.size }),
    presence,
    dropRevoked(has) {
      const revoked = (keyId: string | undefined): boolean => keyId !== undefined && keyId !== ROOT_KEY_ID && !has(keyId);
      for (const session of ws.sessions) if (revoked(session.keyId)) session.close(CloseCode.unauthorized, 'API key revoked');
      for (const stream of streams) if (revoked(stream.keyId)) stream.end();
    },
  };
}
