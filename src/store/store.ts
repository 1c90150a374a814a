import type { StoredKey } from '../auth/keys.js';
import type { Attempt, AttemptRecord, ClaimedDelivery, Delivery } from '../domain/delivery.js';
import type { NewEvent, StoredEvent } from '../domain/envelope.js';
import type { ResponseTemplate } from '../domain/response-template.js';
import type { OperationalEvent } from '../domain/operational.js';
import type { DisabledReason, Subscription } from '../domain/subscription.js';
import type { NewTask, Task } from '../domain/task.js';
import type { DeliveryCounts, DeliveryFilter, RequeueResult } from './deliveries.js';
import type { SavedResponse } from './idempotency.js';

export type { DeliveryCounts, DeliveryFilter, RequeueResult, SavedResponse, StoredKey };

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
  /** This process among the hubs sharing the database: its leases and claims carry it. */
  readonly hubId: string;

  /**
   * Hears what other hubs changed (and, on PostgreSQL, this one too): the head moved, the
   * subscriptions changed, leases were given up; `resync` when the store may have missed
   * changes (its notification connection came back) and everything should be read again.
   * A store with one writer (SQLite) calls it only for the head moved by its own writes of
   * operational events (outside the group commit).
   */
  watch(listener: (change: StoreChange) => void): void;
  /** What /readyz and /metrics show of the connection to shared state. */
  health(): StoreHealth;

  /**
   * One group commit, one transaction: the events get consecutive positions in the order
   * given, with their outbox rows and idempotency keys. Resolves once the commit is durable
   * (and visible to readers). Rejects with NotDurableError when it was written but its
   * durability could not be confirmed; with the error when nothing was written (the storage
   * unable to write: HubError `storage_unavailable`).
   */
  append(write: AppendWrite): Promise<AppendResult>;
  /**
   * How many appends are worth having in flight at once. SQLite: any number (appends issued
   * while one is syncing share the next sync). PostgreSQL: one (appends are chained; each
   * is a round trip holding the head's row lock), so the group commit holds back the next
   * commit while one is in flight and everything that arrives meanwhile joins it.
   */
  readonly appendsInFlight: number;

  /** The durable head and the pruned prefix of the log. */
  position(): Promise<LogPosition>;
  /** Events of one channel after a position, oldest first, with the position read at. */
  readChannel(channel: string, afterSeq: number, limit: number): Promise<EventPage>;
  /** Events of every channel after a position, oldest first, with the position read at. */
  readLog(afterSeq: number, limit: number): Promise<EventPage>;
  eventById(id: string): Promise<StoredEvent | undefined>;

  /**
   * Takes an Idempotency-Key for this hub before its request commits (the append that writes
   * the request's events saves its response and ends the claim), unless a response no older
   * than `since` (epoch ms) is saved for it, or another hub holds it (`busy`: ask again).
   */
  claimKey(key: string, fingerprint: string, since: number, now: number): Promise<KeyClaim>;
  /** Gives a claim back: its request failed and committed nothing. */
  releaseKey(key: string): Promise<void>;

  /** Every subscription, with the version of the set they were read at. */
  subscriptions(): Promise<SubscriptionSet>;
  subscription(id: string): Promise<Subscription | undefined>;
  /**
   * Inserts or replaces the whole row, durably, with the operational events the change raises
   * (`subscription.created`, `.updated`, `.disabled`, …: compared with the row it replaces) in
   * the same transaction.
   */
  putSubscription(sub: Subscription): Promise<void>;
  /** Deletes the row, durably, with its `subscription.deleted` event; resolves with whether there was one. */
  deleteSubscription(id: string, now: number): Promise<boolean>;

  /**
   * Operational events that report no state change of the store (`channel.occupied` and
   * `.vacated`, a test event): one durable transaction; each event's deliveries are planned
   * inside it from the subscriptions then stored (see planOperational). Resolves with their ids.
   */
  appendOperational(events: readonly OperationalEvent[], now: number): Promise<OperationalAppend>;

  /** Background tasks (replays): durable, run by one hub at a time. */
  createTask(task: NewTask): Promise<void>;
  task(id: string): Promise<Task | undefined>;
  /**
   * Takes a running task that no hub holds (never taken, or its claim lapsed: its hub died or
   * stopped) for `leaseMs`, oldest first; undefined when there is none.
   */
  claimTask(now: number, leaseMs: number): Promise<Task | undefined>;
  /**
   * One batch of a replay this hub holds, one durable transaction: the deliveries owed to its
   * subscription for the next `limit` log positions of its range (events that match, received in
   * its window, that it has no delivery for yet), its progress, its claim renewed for `leaseMs`;
   * succeeded at the end of the range, failed when the subscription is gone. Resolves with the
   * task after it, or undefined when another hub holds it now.
   */
  replayBatch(taskId: string, now: number, leaseMs: number, limit: number): Promise<ReplayBatch | undefined>;

  /** API keys (their hashes, never the keys). Each write is durable and, shared, notified as `keys`. */
  createKey(key: StoredKey): Promise<void>;
  /** Every key, oldest first. */
  listKeys(): Promise<StoredKey[]>;
  keyByHash(hash: string): Promise<StoredKey | undefined>;
  /** Deletes the key (revocation); resolves with whether there was one. */
  revokeKey(id: string): Promise<boolean>;
  /** Records the `last_used_at` of several keys in one write (batched: never one write per request). */
  recordKeysUsed(uses: ReadonlyArray<{ id: string; at: number }>): Promise<void>;

  delivery(id: string): Promise<Delivery | undefined>;
  deliveryAttempts(deliverySeq: number): Promise<Attempt[]>;
  deliveriesOfEvent(eventSeq: number): Promise<Delivery[]>;
  /** Newest first. */
  listDeliveries(filter: DeliveryFilter): Promise<Delivery[]>;
  deliveryCounts(): Promise<DeliveryCounts>;

  /**
   * Webhook work is owned per subscription by one hub at a time. Renews this hub's leases and
   * takes free or expired ones, up to its share of the subscriptions among the live hubs;
   * a lease taken over puts the deliveries its previous owner left in flight back in the
   * queue, due `now`. Resolves with every lease this hub holds from now on.
   */
  renewLeases(now: number, leaseMs: number): Promise<LeaseGrant>;
  /**
   * Gives leases of this hub up, these or (it stops) every one: another hub may take them at
   * once. With no list the hub also leaves the live hubs.
   */
  releaseLeases(subscriptionIds?: readonly string[]): Promise<void>;
  /** Whether this hub may run retention now: one hub at a time does. */
  retentionTurn(): Promise<boolean>;
  /**
   * One dispatcher pass, one transaction: records outcomes, releases and cancels claims,
   * switches subscriptions off, then claims (see ClaimBatch). Bookkeeping whose loss only
   * means one more at-least-once attempt: not flushed to disk on its own. Rejects with
   * NotDurableError when the answer to its commit was lost (it may have committed).
   */
  recordAndClaim(pass: DispatchPass): Promise<ClaimResult[]>;
  /**
   * Puts back in the queue every delivery in flight under these leases that is not among
   * `known` (the claims this hub holds): after a pass whose commit was in doubt, its claims
   * may be in the database without the hub knowing of them. Resolves with how many.
   */
  releaseStrays(leases: readonly Lease[], known: readonly number[], now: number): Promise<number>;

  /** Queues one delivery again, due now (a finished one with a fresh retry budget), durably. */
  requeueDelivery(id: string, now: number): Promise<RequeueResult>;
  /**
   * Re-queues up to `batch` dead deliveries of a subscription, durably; resolves with how many.
   * `window`: only deliveries made (their event accepted) at or after `since`, before `until` (epoch ms).
   */
  redriveDead(subscriptionId: string, now: number, batch: number, window?: TimeWindow): Promise<number>;
  /** Cancels up to `batch` waiting deliveries of a (deleted) subscription, durably; resolves with how many. */
  cancelWaiting(subscriptionId: string, now: number, batch: number): Promise<number>;

  /** Retention: removes up to `batch` of the oldest events received before `cutoff` (a prefix of the log). */
  pruneEvents(cutoff: number, batch: number): Promise<number>;
  pruneIdempotencyKeys(cutoff: number, batch: number): Promise<number>;
  /** Removes up to `batch` deliveries finished before `cutoff`, with their attempts. */
  pruneFinishedDeliveries(cutoff: number, batch: number): Promise<number>;
  /** Removes up to `batch` deliveries whose event was pruned from the log. */
  pruneDeliveriesOfPrunedEvents(batch: number): Promise<number>;

  /**
   * Presence and channel occupancy, this hub's part (see {@link PresenceWrite}), in one
   * transaction; shared, each channel whose members changed is notified as `presence`.
   * Resolves with the channels this write made occupied (no hub had a subscriber there) or
   * vacated (no hub has one now).
   */
  writePresence(write: PresenceWrite): Promise<OccupancyChanges>;
  /** The members of a channel over every live hub (one per `sub`, oldest first): the exact count, and at most `limit` of them. */
  readPresence(channel: string, limit: number): Promise<PresenceRows>;
  /**
   * This hub is alive for `expiryMs` more; the rows of hubs that stopped renewing go, their
   * channels notified. `renewed: false`: this hub's rows were gone (it was taken for dead) and
   * must be written again, whole.
   */
  presenceHeartbeat(expiryMs: number): Promise<PresenceHeartbeat>;
  /** The hub stops: its rows stay `graceMs` (a client reconnecting elsewhere within it neither leaves nor joins), then expire. */
  releasePresence(graceMs: number): Promise<void>;

  /** Rejects when the database cannot take a write right now. */
  checkWritable(): Promise<void>;
  /** Flushes and closes. */
  close(): Promise<void>;
}

/** A time range, epoch ms; an absent bound is no bound. */
export interface TimeWindow {
  since?: number | undefined;
  until?: number | undefined;
}

/** Operational events written: their ids and positions, and the deliveries made for them (by event index). */
export interface OperationalAppend {
  events: Array<{ id: string; seq: number }>;
  deliveries: Array<{ id: string; subscriptionId: string; event: number }>;
}

export interface ReplayBatch {
  task: Task;
  /** Deliveries this batch created. */
  created: number;
}

/** What one group commit writes, built before the call. */
export interface AppendWrite {
  /**
   * The version of the subscriptions the outbox rows were planned from: when another hub
   * changed them since, the append is refused (StaleSubscriptionsError) and is to be planned
   * again. undefined: no check.
   */
  subscriptionsVersion?: number | undefined;
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
  /**
   * The leases this pass acts under (fencing): every record, release, cancel, switch-off and
   * claim of a subscription whose lease is not held by this hub at that epoch is left out.
   */
  leases: readonly Lease[];
  /** null: record only. */
  claims: ClaimBatch | null;
}

/** A member as stored: its `info` claim as JSON text. */
export interface MemberRow {
  sub: string;
  info: string;
}

/**
 * What this hub changes of presence and occupancy, by channel. Within one channel, a sub is
 * either joined or left (the writer folds its changes to the last one first).
 */
export interface PresenceWrite {
  channels: readonly ChannelPresenceWrite[];
  /** This hub's rows are replaced by these (after it was taken for dead): no occupancy change is reported. */
  replace?: boolean;
  /** This hub's rows live this long unless renewed (a first write may come before the first heartbeat). */
  expiryMs: number;
}

export interface ChannelPresenceWrite {
  channel: string;
  joined: readonly MemberRow[];
  left: readonly string[];
  /** This hub has a subscriber on the channel (true) or none any more (false); undefined: unchanged. */
  occupied?: boolean | undefined;
}

export interface OccupancyChanges {
  occupied: string[];
  vacated: string[];
}

export interface PresenceRows {
  count: number;
  members: MemberRow[];
}

export interface PresenceHeartbeat {
  renewed: boolean;
  /** Channels the expired hubs' rows left without a subscriber on any hub. */
  vacated: string[];
}

export type StoreChange =
  | { kind: 'head'; head: number }
  | { kind: 'subscriptions' }
  | { kind: 'leases' }
  /** API keys were created or revoked: the key ring reloads. */
  | { kind: 'keys' }
  /** Deliveries of a subscription were queued again (a retry or redrive through another hub). */
  | { kind: 'due'; subscriptionId: string }
  /** The members of a channel changed on a hub (this one too, on PostgreSQL). */
  | { kind: 'presence'; channel: string; hubId: string }
  | { kind: 'resync' };

export interface StoreHealth {
  /** Whether this hub hears other hubs' changes live (null: no other hub can write). */
  listening: boolean | null;
}

export interface SubscriptionSet {
  version: number;
  subscriptions: Subscription[];
}

export type KeyClaim = { state: 'claimed' } | { state: 'saved'; saved: SavedResponse } | { state: 'busy' };

/** A subscription's webhook work, owned by this hub; `epoch` grows with every change of owner. */
export interface Lease {
  subscriptionId: string;
  epoch: number;
}

export interface LeaseGrant {
  leases: Lease[];
  /** Hubs seen alive within a lease, this one included. */
  hubs: number;
  /** How many leases this hub should hold: the subscriptions shared out over the live hubs, rounded up (down while another hub holds less than that). */
  share: number;
  /** Deliveries a previous owner left in flight, put back in the queue by this renewal. */
  requeued: number;
}

/** The subscriptions changed since the outbox was planned; nothing was written. */
export class StaleSubscriptionsError extends Error {
  override name = 'StaleSubscriptionsError';
  constructor() {
    super('the subscriptions changed since the outbox was planned');
  }
}

/** The append was written but not confirmed durable: never to be retried in parts. */
export class NotDurableError extends Error {
  override name = 'NotDurableError';
  constructor(override readonly cause: unknown) {
    super('commit written but not confirmed durable', { cause });
  }
}
