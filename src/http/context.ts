import type { Config } from '../config.js';
import type { CursorCodec } from '../domain/cursor.js';
import type { StoredEvent } from '../domain/envelope.js';
import type { DeliveryJson } from '../domain/delivery.js';
import type { Publisher } from '../ingest/publisher.js';
import type { ClusterState, Metrics } from '../metrics.js';
import type { Store } from '../store/index.js';
import type { Authenticator } from '../auth/principal.js';
import type { Presence } from '../realtime/hub-presence.js';

/** A readiness check: returns a problem, or null when ready. */
export type ReadinessCheck = () => string | null;

/** What the route plugins need; app.ts builds it once. */
export interface HttpContext {
  config: Config;
  store: Store;
  codec: CursorCodec;
  publisher: Publisher;
  auth: Authenticator;
  metrics: Metrics;
  /** Deliveries of an event (the webhooks module answers; none without it). */
  deliveriesOf(event: StoredEvent): Promise<DeliveryJson[]>;
  readiness: Map<string, ReadinessCheck>;
  /** This hub among the hubs sharing its database, for /readyz. */
  cluster(): ClusterState;
  /** Who is on each channel (the realtime module keeps it). */
  presence: Presence;
}
