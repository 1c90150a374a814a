import type { Attempt, Delivery } from '../domain/delivery.js';
import type { DeliveryState } from '../domain/event-status.js';

/** A `deliveries` row as both stores read it (same columns, numbers as numbers). */
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
