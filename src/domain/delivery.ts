import type { StoredEvent } from './envelope.js';
import type { DeliveryState } from './event-status.js';

/** One outbox row: an event owed to one subscription. */
export interface Delivery {
  /** Position in creation order; within a subscription, the event's log order. */
  seq: number;
  id: string;
  subscriptionId: string;
  eventId: string;
  eventSeq: number;
  state: DeliveryState;
  /** Attempts ever made. */
  attempts: number;
  /** Attempts since it was last queued: what the retry budget counts. */
  cycleAttempts: number;
  cycleStartedAt: number | null;
  nextAttemptAt: number;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
  completedAt: number | null;
}

/** A delivery the dispatcher claimed, with its event, ready to send. */
export interface ClaimedDelivery {
  seq: number;
  id: string;
  subscriptionId: string;
  /** The number of this attempt (1-based, over the delivery's whole life). */
  attempt: number;
  cycleAttempts: number;
  cycleStartedAt: number | null;
  event: StoredEvent;
}

/** One attempt as recorded. */
export interface Attempt {
  n: number;
  at: number;
  durationMs: number;
  /** null: no response (timeout, connection error). */
  status: number | null;
  error: string | null;
  /** The first bytes of the response body. */
  responseBody: string | null;
}

/**
 * Where an attempt leaves its delivery. `pending` is a delivery held by a disabled
 * subscription; `cancelled`, one whose subscription was deleted during the attempt.
 */
export type AttemptResult =
  | { state: 'succeeded' | 'dead' | 'cancelled' }
  | { state: 'retrying' | 'pending'; nextAttemptAt: number };

/** An attempt to write, with what it decided. */
export interface AttemptRecord {
  deliverySeq: number;
  attempt: Attempt;
  result: AttemptResult;
}

/** A delivery as the API shows it (the event status resource shows the same). */
export interface DeliveryJson {
  id: string;
  subscription_id: string;
  event_id: string;
  state: DeliveryState;
  attempts: number;
  next_attempt_at: string | null;
  last_status: number | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

export interface AttemptJson {
  n: number;
  at: string;
  duration_ms: number;
  status: number | null;
  error: string | null;
  response_body: string | null;
}

const iso = (ms: number): string => new Date(ms).toISOString();

export function deliveryJson(d: Delivery): DeliveryJson {
  const waiting = d.state === 'pending' || d.state === 'retrying';
  return {
    id: d.id,
    subscription_id: d.subscriptionId,
    event_id: d.eventId,
    state: d.state,
    attempts: d.attempts,
    next_attempt_at: waiting ? iso(d.nextAttemptAt) : null,
    last_status: d.lastStatus,
    last_error: d.lastError,
    created_at: iso(d.createdAt),
    updated_at: iso(d.updatedAt),
  };
}

export function attemptJson(a: Attempt): AttemptJson {
  return {
    n: a.n,
    at: iso(a.at),
    duration_ms: a.durationMs,
    status: a.status,
    error: a.error,
    response_body: a.responseBody,
  };
}
