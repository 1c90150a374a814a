import type { Attempt, Delivery } from '../domain/delivery.js';
import type { StoredEvent } from '../domain/envelope.js';
import type { DeliveryState } from '../domain/event-status.js';
import type { DisabledReason, Subscription } from '../domain/subscription.js';

/**
 * Rows as both stores read and write them (same columns, numbers as numbers): the stores
 * and `pushhub copy` (snapshot.ts) share these.
 */

/** A `deliveries` row as both stores read it. */
export interface DeliveryRow {
  seq: number;
  id: string;
  subscription_id: string;
  event_id: string;
  event_seq: number;
  state: DeliveryState;
  attempts: number;
  cycle_attempts: number;
  cycle_started_at: number | null;
  next_attempt_at: number;
  last_status: number | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
  completed_at: number | null;
}

export function fromDeliveryRow(r: DeliveryRow): Delivery {
  return {
    seq: r.seq,
    id: r.id,
    subscriptionId: r.subscription_id,
    eventId: r.event_id,
    eventSeq: r.event_seq,
    state: r.state,
    attempts: r.attempts,
    cycleAttempts: r.cycle_attempts,
    cycleStartedAt: r.cycle_started_at,
    nextAttemptAt: r.next_attempt_at,
    lastStatus: r.last_status,
    lastError: r.last_error,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    completedAt: r.completed_at,
  };
}

/** A `delivery_attempts` row as both stores read it. */
export interface AttemptRow {
  n: number;
  at: number;
  duration_ms: number;
  status: number | null;
  error: string | null;
  response_body: string | null;
}

export function fromAttemptRow(r: AttemptRow): Attempt {
  return { n: r.n, at: r.at, durationMs: r.duration_ms, status: r.status, error: r.error, responseBody: r.response_body };
}

/** A delivery's attempt with the delivery it belongs to: a whole `delivery_attempts` row. */
export interface DeliveryAttemptRow extends AttemptRow {
  delivery_seq: number;
}

export const DELIVERY_COLUMNS = [
  'seq', 'id', 'subscription_id', 'event_id', 'event_seq', 'state', 'attempts', 'cycle_attempts', 'cycle_started_at',
  'next_attempt_at', 'last_status', 'last_error', 'created_at', 'updated_at', 'completed_at',
] as const satisfies ReadonlyArray<keyof DeliveryRow>;

export const ATTEMPT_COLUMNS = [
  'delivery_seq', 'n', 'at', 'duration_ms', 'status', 'error', 'response_body',
] as const satisfies ReadonlyArray<keyof DeliveryAttemptRow>;

/** An `events` row as both stores read it. */
export interface EventRow {
  seq: number;
  id: string;
  channel: string;
  type: string;
  occurred_at: number;
  received_at: number;
  data: string;
}

export const EVENT_COLUMNS = ['seq', 'id', 'channel', 'type', 'occurred_at', 'received_at', 'data'] as const satisfies ReadonlyArray<keyof EventRow>;

export function fromEventRow(r: EventRow): StoredEvent {
  return { seq: r.seq, id: r.id, channel: r.channel, type: r.type, occurredAt: r.occurred_at, receivedAt: r.received_at, data: r.data };
}

/** A `subscriptions` row, flags as booleans (PostgreSQL's; SQLite keeps them as 0 | 1, subscriptions.ts). */
export interface SubscriptionRow {
  id: string;
  url: string;
  channels: string;
  types: string | null;
  description: string | null;
  ordered: boolean;
  max_in_flight: number;
  rate_limit_per_s: number | null;
  signature_scheme: string;
  retry: string | null;
  /** JSON object of the custom headers; NULL = none. */
  headers: string | null;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: number | null;
  enabled: boolean;
  disabled_reason: string | null;
  created_at: number;
  updated_at: number;
}

export const SUBSCRIPTION_COLUMNS = [
  'id', 'url', 'channels', 'types', 'description', 'ordered', 'max_in_flight', 'rate_limit_per_s',
  'signature_scheme', 'retry', 'secret', 'previous_secret', 'previous_secret_expires_at', 'enabled',
  'disabled_reason', 'created_at', 'updated_at', 'headers',
] as const satisfies ReadonlyArray<keyof SubscriptionRow>;

export function fromSubscriptionRow(r: SubscriptionRow): Subscription {
  return {
    id: r.id,
    url: r.url,
    channels: JSON.parse(r.channels) as string[],
    types: r.types === null ? null : (JSON.parse(r.types) as string[]),
    description: r.description,
    ordered: r.ordered,
    maxInFlight: r.max_in_flight,
    rateLimitPerS: r.rate_limit_per_s,
    signatureScheme: r.signature_scheme as Subscription['signatureScheme'],
    retry: r.retry === null ? null : (JSON.parse(r.retry) as Subscription['retry']),
    headers: r.headers === null ? {} : (JSON.parse(r.headers) as Record<string, string>),
    secret: r.secret,
    previousSecret: r.previous_secret,
    previousSecretExpiresAt: r.previous_secret_expires_at,
    enabled: r.enabled,
    disabledReason: r.disabled_reason as DisabledReason | null,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function toSubscriptionRow(s: Subscription): SubscriptionRow {
  return {
    id: s.id,
    url: s.url,
    channels: JSON.stringify(s.channels),
    types: s.types === null ? null : JSON.stringify(s.types),
    description: s.description,
    ordered: s.ordered,
    max_in_flight: s.maxInFlight,
    rate_limit_per_s: s.rateLimitPerS,
    signature_scheme: s.signatureScheme,
    retry: s.retry === null ? null : JSON.stringify(s.retry),
    headers: Object.keys(s.headers).length === 0 ? null : JSON.stringify(s.headers),
    secret: s.secret,
    previous_secret: s.previousSecret,
    previous_secret_expires_at: s.previousSecretExpiresAt,
    enabled: s.enabled,
    disabled_reason: s.disabledReason,
    created_at: s.createdAt,
    updated_at: s.updatedAt,
  };
}
