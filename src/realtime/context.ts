import type { Clock } from '../clock.js';
import type { RealtimeConfig } from '../config.js';
import type { CursorCodec } from '../domain/cursor.js';
import type { OriginCheck } from '../domain/origins.js';
import type { Authenticator } from '../auth/principal.js';
import type { Publisher } from '../ingest/publisher.js';
import type { Logger } from '../logger.js';
import type { Store } from '../store/index.js';
import type { RealtimeMetrics } from './metrics.js';
import type { Presence } from './hub-presence.js';
import type { ChannelRegistry } from './registry.js';
import type { WriteScheduler } from './write-queue.js';

/** What WebSocket sessions and SSE streams share; built once by createRealtime. */
export interface RealtimeContext {
  config: RealtimeConfig;
  /** PUSHHUB_CORS_ORIGINS as a check: a WebSocket upgrade from another page's origin must pass it. */
  originAllowed: OriginCheck;
  store: Store;
  codec: CursorCodec;
  publisher: Publisher;
  auth: Authenticator;
  registry: ChannelRegistry;
  /** The write windows of fan-out (write-queue.ts). */
  writes: WriteScheduler;
  presence: Presence;
  metrics: RealtimeMetrics;
  logger: Logger;
  clock: Clock;
}
