import type { Clock, Random } from '../clock.js';
import type { CursorCodec } from '../domain/cursor.js';
import type { ClaimedDelivery } from '../domain/delivery.js';
import { envelopeJson } from '../domain/envelope.js';
import type { DisabledReason, Subscription } from '../domain/subscription.js';
import type { Logger } from '../logger.js';
import type { Store } from '../store/index.js';
import { FailureWindow, type PauseRule } from './failure-window.js';
import type { WebhookMetrics } from './metrics.js';
import { decide, type Decision } from './outcome.js';
import type { HttpSender, SendResult } from './sender.js';
import type { IndexedSubscription, SubscriptionIndex } from './subscription-index.js';
import { TokenBucket } from './token-bucket.js';

export interface DispatcherOptions {
  store: Store;
  index: SubscriptionIndex;
  sender: HttpSender;
  codec: CursorCodec;
  clock: Clock;
  random: Random;
  logger: Logger;
  metrics: WebhookMetrics;
  /** Attempts under way at once, all subscriptions together. */
  maxInFlight: number;
  /** Deliveries claimed per subscription per pass. */
  claimBatch: number;
  pauseRule: PauseRule;
}

/** What the dispatcher knows of one subscription between passes. */
interface Lane {
  inFlight: number;
  /** Earliest time it may have due work (epoch ms); Infinity: none known. */
  nextDueAt: number;
  bucket: TokenBucket | undefined;
  rate: number | null;
  failures: FailureWindow;
}

interface Finished {
  claimed: ClaimedDelivery;
  entry: IndexedSubscription;
  result: SendResult;
  startedAt: number;
}

/** Every minute each subscription is looked at even without a signal: a safety net, not the mechanism. */
const RESYNC_MS = 60_000;
const INFINITY = Number.POSITIVE_INFINITY;

/**
 * Claims due deliveries, sends them, records the outcomes.
 *
 * One pass (`pump`, run on the next turn after any wake-up) first records every finished
 * attempt in one transaction, then walks the subscriptions (round-robin, so a global cap
 * cannot starve the same ones every time) and claims, in a second transaction, what each
 * may take: its due work up to `max_in_flight` (1 and queue order when `ordered`), its rate
 * limit and what is left of the global cap. Wake-ups come from commits (fresh events, no
 * polling delay), finished attempts, and one timer set to the earliest known due time.
 * A slow receiver only fills its own lane.
 */
export class Dispatcher {
  private readonly lanes = new Map<string, Lane>();
  private finished: Finished[] = [];
  private readonly underWay = new Set<Promise<void>>();
  private inFlight = 0;
  private running = false;
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = INFINITY;
  private resync: NodeJS.Timeout | undefined;
  private roundRobin = 0;

  constructor(private readonly opts: DispatcherOptions) {}

  /**
   * Starts dispatching. In-flight rows at start were claimed by a process that is gone (a
   * SQLite database has one hub), so their claims have lapsed: they go back to the queue.
   */
  start(): void {
    const { store, clock, logger } = this.opts;
    const released = store.relaxedTransaction(() => store.deliveries.releaseAll(clock.now()));
    if (released > 0) logger.info({ released }, 'deliveries left in flight by the previous run re-queued');
    this.running = true;
    this.resync = setInterval(() => this.dueAll(), RESYNC_MS);
    this.resync.unref();
    this.dueAll();
  }

  /** Waits up to `graceMs` for attempts under way, then cuts them short and re-queues them. */
  async stop(graceMs: number): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    clearInterval(this.resync);
    const all = Promise.allSettled([...this.underWay]);
    let graceTimer: NodeJS.Timeout | undefined;
    const graceOver = await Promise.race([
      all.then(() => false),
      new Promise<boolean>((resolve) => (graceTimer = setTimeout(() => resolve(true), graceMs))),
    ]);
    clearTimeout(graceTimer);
    if (graceOver) {
      this.opts.logger.warn({ inFlight: this.inFlight }, 'grace period over: re-queueing attempts under way');
      this.opts.sender.abortAll();
      await all;
    }
    this.record();
  }

  /** Attempts under way now. */
  get attemptsInFlight(): number {
    return this.inFlight;
  }

  /** A problem for /readyz, or null. */
  problem(): string | null {
    if (!this.running) return 'not running';
    return null;
  }

  /** A subscription may have work due now (new deliveries, a re-queue, re-enabled). */
  dueNow(subscriptionId: string): void {
    const lane = this.lanes.get(subscriptionId);
    if (lane) lane.nextDueAt = Math.min(lane.nextDueAt, this.opts.clock.now());
    this.wake();
  }

  /** Settings changed: rate limit rebuilt; a re-enabled subscription starts a clean failure record. */
  changed(sub: Subscription, reenabled: boolean): void {
    const lane = this.lanes.get(sub.id);
    if (lane && reenabled) lane.failures = new FailureWindow(this.opts.pauseRule);
    this.dueNow(sub.id);
  }

  forget(subscriptionId: string): void {
    this.lanes.delete(subscriptionId);
  }

  /** Runs a pass on the next turn (coalesced: many wake-ups, one pass). */
  wake(): void {
    if (this.scheduled || !this.running) return;
    this.scheduled = true;
    setImmediate(() => this.pump());
  }

  private dueAll(): void {
    const now = this.opts.clock.now();
    for (const lane of this.lanes.values()) lane.nextDueAt = Math.min(lane.nextDueAt, now);
    for (const { sub } of this.opts.index.all()) this.laneOf(sub, now);
    this.wake();
  }

  private laneOf(sub: Subscription, now: number): Lane {
    let lane = this.lanes.get(sub.id);
    if (!lane) {
      lane = { inFlight: 0, nextDueAt: now, bucket: undefined, rate: null, failures: new FailureWindow(this.opts.pauseRule) };
      this.lanes.set(sub.id, lane);
    }
    if (lane.rate !== sub.rateLimitPerS) {
      lane.rate = sub.rateLimitPerS;
      lane.bucket = sub.rateLimitPerS === null ? undefined : new TokenBucket(sub.rateLimitPerS, now);
    }
    return lane;
  }

  private pump(): void {
    this.scheduled = false;
    if (!this.running) return;
    try {
      this.record();
      this.claimAndSend();
    } catch (err) {
      // Storage trouble (busy, full): try again shortly rather than stall.
      this.opts.logger.error({ err }, 'dispatcher pass failed; retrying in 1 s');
      this.arm(this.opts.clock.now() + 1000);
    }
  }

  private claimAndSend(): void {
    const { store, index, clock, maxInFlight, claimBatch } = this.opts;
    const now = clock.now();
    const subs = index.all();
    const plan: Array<{ entry: IndexedSubscription; lane: Lane; claimed: ClaimedDelivery[]; nextDueAt: number }> = [];
    let wakeAt = INFINITY;
    let again = false;
    let room = maxInFlight - this.inFlight;
    // Nothing is sent for an event a power cut could still undo.
    const maxEventSeq = store.events.headSeq();
    // Lanes change only once the claims are committed: a failed transaction leaves no trace.
    store.relaxedTransaction(() => {
      for (let k = 0; k < subs.length && room > 0; k++) {
        const entry = subs[(this.roundRobin + k) % subs.length]!;
        const { sub } = entry;
        if (!sub.enabled) continue; // held: its deliveries wait, nothing is claimed
        const lane = this.laneOf(sub, now);
        if (lane.nextDueAt > now) {
          wakeAt = Math.min(wakeAt, lane.nextDueAt);
          continue;
        }
        let limit = sub.ordered ? 1 - lane.inFlight : sub.maxInFlight - lane.inFlight;
        if (limit <= 0) continue; // a finished attempt wakes us
        if (lane.bucket) {
          const tokens = lane.bucket.available(now);
          if (tokens < 1) {
            wakeAt = Math.min(wakeAt, lane.bucket.nextTokenAt(now));
            continue;
          }
          limit = Math.min(limit, tokens);
        }
        limit = Math.min(limit, room, claimBatch);
        const { claimed, nextDueAt } = store.deliveries.claim({ subscriptionId: sub.id, ordered: sub.ordered, limit, now, maxEventSeq });
        room -= claimed.length;
        plan.push({ entry, lane, claimed, nextDueAt: nextDueAt ?? INFINITY });
      }
    });
    this.roundRobin = subs.length > 0 ? (this.roundRobin + 1) % subs.length : 0;
    for (const { entry, lane, claimed, nextDueAt } of plan) {
      lane.nextDueAt = nextDueAt;
      lane.inFlight += claimed.length;
      this.inFlight += claimed.length;
      lane.bucket?.take(claimed.length, now);
      if (nextDueAt > now) wakeAt = Math.min(wakeAt, nextDueAt);
      else if (claimed.length === claimBatch) again = true; // more due than one batch
      else if (lane.bucket) wakeAt = Math.min(wakeAt, lane.bucket.nextTokenAt(now));
      for (const c of claimed) this.send(entry, c);
    }
    if (again) this.wake();
    else this.arm(wakeAt);
  }

  private send(entry: IndexedSubscription, claimed: ClaimedDelivery): void {
    const { clock, codec, sender } = this.opts;
    const startedAt = clock.now();
    const timestamp = Math.floor(startedAt / 1000);
    const { event } = claimed;
    const body = envelopeJson(event, codec.encode(event.seq));
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'pushhub-webhooks',
      'webhook-id': event.id,
      'webhook-timestamp': String(timestamp),
      ...entry.signerAt(startedAt)(event.id, timestamp, body),
      'x-event-id': event.id,
      'x-event-type': event.type,
      'x-pushhub-delivery': claimed.id,
      'x-pushhub-attempt': String(claimed.attempt),
    };
    const attempt = sender
      .send({ url: entry.url, headers, body, timeoutMs: entry.policy.timeoutMs })
      .catch((err: unknown): SendResult => {
        this.opts.logger.error({ err, deliveryId: claimed.id }, 'webhook attempt failed unexpectedly');
        return { outcome: 'network_error', status: null, error: 'internal_error', retryAfter: undefined, responseBody: null, durationMs: 0 };
      })
      .then((result) => {
        this.finished.push({ claimed, entry, result, startedAt });
        this.wake();
      })
      .finally(() => this.underWay.delete(attempt));
    this.underWay.add(attempt);
  }

  /** Writes every finished attempt in one transaction, then frees their lanes. */
  private record(): void {
    if (this.finished.length === 0) return;
    const { store, index, clock, random } = this.opts;
    const batch = this.finished;
    this.finished = [];
    const now = clock.now();
    const released = batch.filter((f) => f.result.outcome === 'aborted').map((f) => f.claimed.seq);
    const decided = batch
      .filter((f) => f.result.outcome !== 'aborted')
      .map((f) => {
        // The subscription as it is now: it may have changed (or gone) during the attempt.
        const entry = index.get(f.claimed.subscriptionId) ?? f.entry;
        return { ...f, entry, decision: decide(f.claimed, f.result, f.startedAt, now, entry.policy, random) };
      });
    try {
      store.relaxedTransaction(() => {
        store.deliveries.record(decided.map((d) => d.decision.record), now);
        store.deliveries.release(released, now);
      });
    } catch (err) {
      this.finished = batch.concat(this.finished); // kept for the next pass
      throw err;
    }
    for (const f of batch) {
      const lane = this.lanes.get(f.claimed.subscriptionId);
      if (lane) lane.inFlight--;
      this.inFlight--;
    }
    if (released.length > 0) for (const lane of this.lanes.values()) lane.nextDueAt = Math.min(lane.nextDueAt, now);
    const pauses = new Map<string, DisabledReason>();
    for (const d of decided) this.account(d.claimed, d.entry, d.result, d.decision, now, pauses);
    if (pauses.size > 0) this.pause(pauses, now);
  }

  /** Metrics, logs, the lane's next due time and its failure record for one recorded attempt. */
  private account(
    claimed: ClaimedDelivery,
    entry: IndexedSubscription,
    result: SendResult,
    decision: Decision,
    now: number,
    pauses: Map<string, DisabledReason>,
  ): void {
    const { metrics, logger } = this.opts;
    metrics.attempts.inc({ outcome: result.outcome });
    metrics.attemptDuration.observe(result.durationMs / 1000);
    const next = decision.record.result;
    const log = { deliveryId: claimed.id, subscriptionId: claimed.subscriptionId, eventId: claimed.event.id, attempt: claimed.attempt };
    if (next.state === 'succeeded') {
      metrics.deliveryLatency.observe(Math.max(0, now - claimed.event.receivedAt) / 1000);
    } else if (next.state === 'dead') {
      metrics.deadLettered.inc();
      logger.warn({ ...log, status: result.status, error: result.error, reason: decision.dead }, 'delivery dead');
    } else if (next.state === 'retrying') {
      logger.debug({ ...log, status: result.status, error: result.error, nextAttemptAt: next.nextAttemptAt }, 'delivery retried');
    }
    const lane = this.lanes.get(claimed.subscriptionId);
    if (!lane) return; // deleted meanwhile
    if (entry.sub.ordered) lane.nextDueAt = now; // the queue head moved on or was rescheduled
    else if (next.state === 'retrying' || next.state === 'pending') lane.nextDueAt = Math.min(lane.nextDueAt, next.nextAttemptAt);
    const failing = lane.failures.add(next.state !== 'succeeded', now);
    if (!entry.sub.enabled || pauses.has(entry.sub.id)) return;
    if (decision.gone) pauses.set(entry.sub.id, 'gone');
    else if (failing) pauses.set(entry.sub.id, 'failing');
  }

  /** Switches subscriptions off (410 Gone, or failing); their deliveries are held, not dropped. */
  private pause(pauses: Map<string, DisabledReason>, now: number): void {
    const { store, index, logger } = this.opts;
    store.relaxedTransaction(() => {
      for (const [id, reason] of pauses) store.subscriptions.setEnabled(id, false, reason, now);
    });
    for (const [id, reason] of pauses) {
      const entry = index.get(id);
      if (entry) index.set({ ...entry.sub, enabled: false, disabledReason: reason, updatedAt: now });
      logger.warn({ subscriptionId: id, reason }, 'subscription disabled; its deliveries are held until it is enabled');
    }
  }

  /** Sets the one timer to `at` unless an earlier one is already set. */
  private arm(at: number): void {
    if (!this.running || at === INFINITY) return;
    const now = this.opts.clock.now();
    if (this.timer && this.timerAt <= at && this.timerAt > now) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    // setTimeout holds at most ~24.8 days; the resync covers anything further.
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = INFINITY;
      this.wake();
    }, Math.min(Math.max(0, at - now), 2 ** 31 - 1));
    this.timer.unref();
  }
}
