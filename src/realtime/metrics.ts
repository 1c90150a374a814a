import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Realtime metrics, registered on the app's registry. */
export interface RealtimeMetrics {
  readonly delivered: Counter<'transport' | 'phase'>;
  readonly framesIn: Counter<'op'>;
  readonly frameErrors: Counter<'code'>;
  readonly slowConsumers: Counter<'transport'>;
  readonly closes: Counter<'code'>;
  readonly resumes: Counter<'transport' | 'outcome'>;
  readonly replayEvents: Histogram<'transport'>;
}

export interface Gauges {
  connections(transport: 'ws' | 'sse'): number;
  subscriptions(): number;
  /** Bytes queued to peers and not yet written, summed over connections (O(connections), at scrape only). */
  bufferedBytes(): number;
}

export function createRealtimeMetrics(registry: Registry, gauges: Gauges): RealtimeMetrics {
  const registers = [registry];
  new Gauge({
    name: 'pushhub_realtime_connections',
    help: 'Open WebSocket and SSE connections.',
    labelNames: ['transport'],
    registers,
    collect() {
      this.set({ transport: 'ws' }, gauges.connections('ws'));
      this.set({ transport: 'sse' }, gauges.connections('sse'));
    },
  });
  new Gauge({
    name: 'pushhub_realtime_subscriptions',
    help: 'Channel subscriptions across all connections.',
    registers,
    collect() {
      this.set(gauges.subscriptions());
    },
  });
  new Gauge({
    name: 'pushhub_realtime_send_buffer_bytes',
    help: 'Bytes queued to peers and not yet written out, over all connections.',
    registers,
    collect() {
      this.set(gauges.bufferedBytes());
    },
  });
  return {
    delivered: new Counter({
      name: 'pushhub_realtime_events_delivered_total',
      help: 'Event frames sent to subscribers, by transport and phase (replay or live).',
      labelNames: ['transport', 'phase'],
      registers,
    }),
    framesIn: new Counter({
      name: 'pushhub_realtime_frames_in_total',
      help: 'WebSocket frames received, by op.',
      labelNames: ['op'],
      registers,
    }),
    frameErrors: new Counter({
      name: 'pushhub_realtime_frame_errors_total',
      help: 'WebSocket error frames sent, by code.',
      labelNames: ['code'],
      registers,
    }),
    slowConsumers: new Counter({
      name: 'pushhub_realtime_slow_consumer_disconnects_total',
      help: 'Connections closed because their send buffer passed the limit.',
      labelNames: ['transport'],
      registers,
    }),
    closes: new Counter({
      name: 'pushhub_realtime_ws_closes_total',
      help: 'WebSocket connections closed by the hub, by close code.',
      labelNames: ['code'],
      registers,
    }),
    resumes: new Counter({
      name: 'pushhub_realtime_subscribes_total',
      help: 'Subscriptions started, by outcome: live (no cursor), resumed, cursor_expired, foreign_cursor.',
      labelNames: ['transport', 'outcome'],
      registers,
    }),
    replayEvents: new Histogram({
      name: 'pushhub_realtime_replay_events',
      help: 'Events replayed from the store per resumed subscription.',
      labelNames: ['transport'],
      buckets: [0, 1, 10, 100, 1000, 10_000, 100_000, 1_000_000],
      registers,
    }),
  };
}
