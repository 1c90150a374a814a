import { z } from 'zod';
import type { StoredEvent } from './envelope.js';
import { deliveryStateSchema, type DeliveryState } from './event-status.js';

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

/** A delivery as the API shows it (the event status resource shows a summary of it). */
export const deliverySchema = z
  .strictObject({
    id: z.string(),
    subscription_id: z.string(),
    event_id: z.string(),
    state: deliveryStateSchema,
    attempts: z.int().min(0).meta({ description: 'Attempts made so far.' }),
    next_attempt_at: z.iso.datetime().nullable().meta({ description: 'When the next attempt is due; null unless pending or retrying.' }),
    last_status: z.int().nullable().meta({ description: 'HTTP status of the last attempt; null when it got no response.' }),
    last_error: z.string().nullable(),
    created_at: z.iso.datetime(),
    updated_at: z.iso.datetime(),
  })
  .meta({ id: 'Delivery' });
export type DeliveryJson = z.output<typeof deliverySchema>;

export const attemptSchema = z
  .strictObject({
    n: z.int().min(1),
    at: z.iso.datetime(),
    duration_ms: z.number().min(0),
    status: z.int().nullable().meta({ description: 'null: no response (timeout, connection error).' }),
    error: z.string().nullable(),
    response_body: z.string().nullable().meta({ description: 'The first bytes of the response body.' }),
  })
  .meta({ id: 'Attempt' });
export type AttemptJson = z.output<typeof attemptSchema>;

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
