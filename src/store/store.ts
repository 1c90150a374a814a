import type { Attempt, AttemptRecord, ClaimedDelivery, Delivery } from '../domain/delivery.js';
import type { NewEvent, StoredEvent } from '../domain/envelope.js';
import type { ResponseTemplate } from '../domain/response-template.js';
import type { DisabledReason, Subscription } from '../domain/subscription.js';
import type { DeliveryCounts, DeliveryFilter, RequeueResult } from './deliveries.js';
import type { SavedResponse } from './idempotency.js';

export type { DeliveryCounts, DeliveryFilter, RequeueResult, SavedResponse };

/**
 * The store boundary: intents, not callbacks. Every method is one unit of work (one
 * transaction where it writes) on data built before the call, so a store whose transactions
 * cost a connection and a lock (PostgreSQL) never holds one open across JavaScript. The
 * SQLite store runs its synchronous code inside and resolves at once; only `append` waits,
 * for the WAL sync.
 */
export interface Store {
  /** Random per database; cursors carry it so a foreign cursor is recognised. */
  readonly epoch: string;

  /**
   * One group commit, one transaction: the events get consecutive positions in the order
   * given, with their outbox rows and idempotency keys. Resolves once the commit is durable
   * (and visible to readers). Rejects with NotDurableError when it was written but its
   * durability could not be confirmed; with the error when nothing was written (the storage
   * unable to write: HubError `storage_unavailable`).
   */
  append(write: AppendWrite): Promise<AppendResult>;

  /** The durable head and the pruned prefix of the log. */
  position(): Promise<LogPosition>;
  /** Events of one channel after a position, oldest first, with the position read at. */
  readChannel(channel: string, afterSeq: number, limit: number): Promise<EventPage>;
  /** Events of every channel after a position, oldest first, with the position read at. */
  readLog(afterSeq: number, limit: number): Promise<EventPage>;
  eventById(id: string): Promise<StoredEvent | undefined>;

  /** The response saved for an idempotency key no older than `since` (epoch ms). */
  savedResponse(key: string, since: number): Promise<SavedResponse | undefined>;

  subscriptions(): Promise<Subscription[]>;
  /** Inserts or replaces the whole row, durably. */
  putSubscription(sub: Subscription): Promise<void>;
  /** Deletes the row, durably; resolves with whether there was one. */
  deleteSubscription(id: string): Promise<boolean>;

  delivery(id: string): Promise<Delivery | undefined>;
  deliveryAttempts(deliverySeq: number): Promise<Attempt[]>;
  deliveriesOfEvent(eventSeq: number): Promise<Delivery[]>;
  /** Newest first. */
  listDeliveries(filter: DeliveryFilter): Promise<Delivery[]>;
  deliveryCounts(): Promise<DeliveryCounts>;

  /** Puts every in-flight delivery back in the queue, due `now`; resolves with how many. */
  releaseAll(now: number): Promise<number>;
  /**
   * One dispatcher pass, one transaction: records outcomes, releases and cancels claims,
   * switches subscriptions off, then claims (see ClaimBatch). Bookkeeping whose loss only
   * means one more at-least-once attempt: not flushed to disk on its own.
   */
  recordAndClaim(pass: DispatchPass): Promise<ClaimResult[]>;

  /** Queues one delivery again, due now (a finished one with a fresh retry budget), durably. */
  requeueDelivery(id: string, now: number): Promise<RequeueResult>;
  /** Re-queues up to `batch` dead deliveries of a subscription, durably; resolves with how many. */
  redriveDead(subscriptionId: string, now: number, batch: number): Promise<number>;
  /** Cancels up to `batch` waiting deliveries of a (deleted) subscription, durably; resolves with how many. */
  cancelWaiting(subscriptionId: string, now: number, batch: number): Promise<number>;

  /** Retention: removes up to `batch` of the oldest events received before `cutoff` (a prefix of the log). */
  pruneEvents(cutoff: number, batch: number): Promise<number>;
  pruneIdempotencyKeys(cutoff: number, batch: number): Promise<number>;
  /** Removes up to `batch` deliveries finished before `cutoff`, with their attempts. */
  pruneFinishedDeliveries(cutoff: number, batch: number): Promise<number>;
  /** Removes up to `batch` deliveries whose event was pruned from the log. */
  pruneDeliveriesOfPrunedEvents(batch: number): Promise<number>;

  /** Rejects when the database cannot take a write right now. */
  checkWritable(): Promise<void>;
  /** Flushes and closes. */
  close(): Promise<void>;
}

/** What one group commit writes, built before the call. */
export interface AppendWrite {
  /** Ids assigned, `data` as JSON text; positions are assigned in this order. */
  events: readonly NewEvent[];
  /** Outbox rows, due at once. */
  deliveries: readonly OutboxRow[];
  idempotencyKeys: readonly IdempotencyRow[];
  /** Epoch ms: when the rows were made. */
  now: number;
}

/** One delivery to create: an event of the write owed to one subscription. */
export interface OutboxRow {
  id: string;
  subscriptionId: string;
  /** Index of its event in `AppendWrite.events`. */
  event: number;
}

/** An Idempotency-Key saved with the events its request made. */
export interface IdempotencyRow {
  key: string;
  fingerprint: string;
  /** The response, whose cursors (event indexes in `AppendWrite.events`) the append fills in. */
  response: ResponseTemplate;
}

export interface AppendResult {
  /** The events' positions, in the order given (consecutive). */
  seqs: number[];
}

export interface LogPosition {
  /** The newest durable position (0 for an empty log). */
  head: number;
  /** Every position up to and including this one has been pruned (0: nothing pruned). */
  prunedThrough: number;
}

export interface EventPage extends LogPosition {
  events: StoredEvent[];
}

/** A subscription's claim in a pass. Only deliveries of durable events are claimed. */
export interface ClaimRequest {
  subscriptionId: string;
  /** Ordered: only the queue head (lowest position), and only when it is due. */
  ordered: boolean;
  limit: number;
}

export interface ClaimResult {
  claimed: ClaimedDelivery[];
  /**
   * When the subscription next has due work among what was left: epoch ms, or null when
   * nothing is waiting (or, ordered, when the head is now in flight).
   */
  nextDueAt: number | null;
}

/**
 * Claims in order, each capped by what is left of `budget` (claims so far subtracted); stops
 * once the budget is spent. The results are those of the requests served: a prefix.
 */
export interface ClaimBatch {
  requests: readonly ClaimRequest[];
  budget: number;
}

export interface DispatchPass {
  now: number;
  /** Attempts finished, with their results. A delivery no longer in flight keeps its state. */
  records: readonly AttemptRecord[];
  /** Claimed deliveries back to the queue, due now, their attempt not counted. */
  release: readonly number[];
  /** Claimed deliveries of deleted subscriptions: cancelled. */
  cancel: readonly number[];
  /** Subscriptions switched off. */
  disable: ReadonlyArray<{ id: string; reason: DisabledReason }>;
  /** null: record only. */
  claims: ClaimBatch | null;
}

/** The append was written but not confirmed durable: never to be retried in parts. */
export class NotDurableError extends Error {
  override name = 'NotDurableError';
  constructor(override readonly cause: unknown) {
    super('commit written but not confirmed durable', { cause });
  }
}
