import type { Clock, Random } from '../clock.js';
import type { CursorCodec } from '../domain/cursor.js';
import type { ClaimedDelivery } from '../domain/delivery.js';
import type { DisabledReason, Subscription } from '../domain/subscription.js';
import type { Logger } from '../logger.js';
import { NotDurableError, type ClaimRequest, type Store } from '../store/index.js';
import type { PauseRule } from './failure-window.js';
import { CLAIM_AHEAD, Lanes } from './lanes.js';
import type { LeaseKeeper, LeaseSnapshot } from './leases.js';
import type { WebhookMetrics } from './metrics.js';
import { decide, type Decision } from './outcome.js';
import { deliveryRequest } from './request.js';
import type { HttpSender, SendResult } from './sender.js';
import type { IndexedSubscription, SubscriptionIndex } from './subscription-index.js';

export interface DispatcherOptions {
  store: Store;
  index: SubscriptionIndex;
  sender: HttpSender;
  codec: CursorCodec;
  clock: Clock;
  random: Random;
  logger: Logger;
  metrics: WebhookMetrics;
  /** The subscriptions this hub may send for (one hub owns each). */
  leases: LeaseKeeper;
  /** Attempts under way at once, all subscriptions together. */
  maxInFlight: number;
  /** Deliveries claimed per subscription per pass. */
  claimBatch: number;
  pauseRule: PauseRule;
}

interface Finished {
  claimed: ClaimedDelivery;
  result: SendResult;
  startedAt: number;
  /** Already in its lane's failure record (a pass that failed is retried without counting twice). */
  counted: boolean;
}

/** A finished attempt judged: its decision, or null when it was cut short (not counted). */
interface Judged extends Finished {
  entry: IndexedSubscription | undefined;
  decision: Decision | null;
}

interface Pause {
  sub: Subscription;
  reason: DisabledReason;
}

interface Claim {
  entry: IndexedSubscription;
  claimed: ClaimedDelivery[];
  nextDueAt: number;
}

/** A pass's claims, decided before the store is asked: the store caps them by `budget` in turn. */
interface ClaimPlan {
  entries: IndexedSubscription[];
  requests: ClaimRequest[];
  budget: number;
  /** The leases the pass acts under. */
  leases: LeaseSnapshot;
}

/** Every minute each subscription is looked at even without a signal: a safety net, not the mechanism. */
const RESYNC_MS = 60_000;
const INFINITY = Number.POSITIVE_INFINITY;
/**
 * How long a finished attempt may wait to be recorded while its lane still has work ready:
 * recording a few ms of outcomes in one pass costs far less per delivery than a pass per
 * poll of the event loop (bench/webhooks: ≈ 20 % more deliveries/s).
 */
const PASS_DELAY_MS = 5;

/**
 * Claims due deliveries, sends them, records the outcomes.
 *
 * One pass (run on the next turn after any wake-up, so many wake-ups make one pass) writes,
 * in a single store call (one transaction), the outcomes of every attempt finished since the last pass and
 * the claims of new work: for each subscription in turn (round-robin, so the global cap
 * cannot starve the same ones every time) its due deliveries up to `max_in_flight` (1, in
 * queue order, when `ordered`), its rate limit and what is left of the global cap.
 * Up to CLAIM_AHEAD × `max_in_flight` is claimed, so a finished request's slot goes at once
 * to a delivery ready in its lane; the passes behind it record outcomes in batches
 * (PASS_DELAY_MS) and keep the lanes filled. Wake-ups come from commits (fresh events, no
 * polling delay), finished attempts, and one timer set to the earliest known due time. A
 * slow receiver only fills its own lane.
 */
export class Dispatcher {
  private readonly lanes: Lanes;
  private finished: Finished[] = [];
  /** Claimed and not yet recorded, all lanes together. */
  private inFlight = 0;
  /** Requests under way (at most `maxInFlight`), whose result is not back yet. */
  private sending = 0;
  /** Lanes with claimed deliveries waiting for a slot. */
  private readonly readyLanes = new Set<string>();
  /** Claimed but no longer to be sent: back to the queue (stopped, disabled) with the next pass. */
  private unsent: number[] = [];
  /** Claimed for a subscription since deleted: cancelled by the next pass. */
  private cancels: number[] = [];
  /** A pass is due within PASS_DELAY_MS: outcomes wait to be recorded together. */
  private soon: NodeJS.Timeout | undefined;
  private drained: (() => void) | undefined;
  private running = false;
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = INFINITY;
  private resync: NodeJS.Timeout | undefined;
  private roundRobin = 0;
  /** Deliveries this hub claimed and has not yet recorded, released or cancelled, with their subscription. */
  private readonly claimedSeqs = new Map<number, string>();
  /** A pass's commit was in doubt: claims it may have made are released before the next one. */
  private strays = false;
  /** The lease epoch each claimed delivery was claimed under: an outcome under an older one is not recorded. */
  private readonly claimedUnder = new WeakMap<ClaimedDelivery, number>();
  /** A pass is waiting for the store: another wake-up then runs one more pass after it. */
  private passing: Promise<void> | undefined;
  private passAgain = false;

  constructor(private readonly opts: DispatcherOptions) {
    this.lanes = new Lanes(opts.pauseRule);
  }

  /**
   * Starts dispatching, for the subscriptions whose leases are held (taking a lease put the
   * deliveries a previous owner left in flight back in the queue).
   */
  start(): void {
    this.running = true;
    this.resync = setInterval(() => this.dueAll(), RESYNC_MS);
    this.resync.unref();
    this.dueAll();
  }

  /** Waits up to `graceMs` for attempts under way, then cuts them short and re-queues them. */
  async stop(graceMs: number): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    clearTimeout(this.soon);
    clearInterval(this.resync);
    this.drainReady(); // not sent: back to the queue
    const all = new Promise<void>((resolve) => {
      if (this.sending === 0) resolve();
      else this.drained = resolve;
    });
    let graceTimer: NodeJS.Timeout | undefined;
    const graceOver = await Promise.race([
      all.then(() => false),
      new Promise<boolean>((resolve) => (graceTimer = setTimeout(() => resolve(true), graceMs))),
    ]);
    clearTimeout(graceTimer);
    if (graceOver) {
      this.opts.logger.warn({ inFlight: this.sending }, 'grace period over: re-queueing attempts under way');
      this.opts.sender.abortAll();
      await all;
    }
    while (this.passing) await this.passing;
    await this.pass(false);
  }

  /** Whether this hub holds claims of the subscription whose outcome or release is not yet written. */
  holdsClaims(subscriptionId: string): boolean {
    for (const id of this.claimedSeqs.values()) if (id === subscriptionId) return true;
    return false;
  }

  /** Attempts under way now. */
  get attemptsInFlight(): number {
    return this.sending;
  }

  /** A problem for /readyz, or null. */
  problem(): string | null {
    return this.running ? null : 'not running';
  }

  /** A subscription may have work due now (new deliveries, a re-queue, re-enabled). */
  dueNow(subscriptionId: string): void {
    this.lanes.get(subscriptionId)?.dueBy(this.opts.clock.now());
    this.wake();
  }

  /**
   * Leases changed hands. Gained: its work is looked at now. Lost: nothing more is claimed or
   * sent for it; what is ready goes back (the new owner re-queued it already); attempts under
   * way are cut short when every lease ran out (the database unreachable), else they finish
   * and their outcomes, fenced, are not recorded.
   */
  leasesChanged(gained: readonly string[], lost: readonly string[]): void {
    for (const id of lost) this.drain(id);
    if (lost.length > 0 && this.opts.leases.count === 0) this.opts.sender.abortAll();
    for (const id of gained) this.dueNow(id);
  }

  /** Settings changed; a re-enabled subscription starts with a clean failure record. */
  changed(sub: Subscription, reenabled: boolean): void {
    if (reenabled) this.lanes.get(sub.id)?.forgive();
    this.drain(sub.id); // disabled: what it had ready goes back to the queue
    this.dueNow(sub.id);
  }

  forget(subscriptionId: string): void {
    this.drain(subscriptionId); // deleted: what it had ready is cancelled
    this.lanes.delete(subscriptionId);
  }

  /** Runs a pass on the next turn (coalesced: many wake-ups, one pass). */
  wake(): void {
    if (this.scheduled || !this.running) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (!this.running) return;
      if (this.passing) this.passAgain = true;
      else void this.pass(true);
    });
  }

  /** Every subscription may have work due (after a resync, and every minute). */
  dueAll(): void {
    const now = this.opts.clock.now();
    this.lanes.allDueBy(now);
    for (const { sub } of this.opts.index.all()) this.lanes.of(sub, now);
    this.wake();
  }

  /** Records what finished and, when `claim`, claims new work: one store call. */
  private pass(claim: boolean): Promise<void> {
    const passing = this.passOnce(claim).finally(() => {
      this.passing = undefined;
      if (this.passAgain) {
        this.passAgain = false;
        this.wake();
      }
    });
    this.passing = passing;
    return passing;
  }

  private async passOnce(claim: boolean): Promise<void> {
    const { store, clock, logger } = this.opts;
    clearTimeout(this.soon);
    this.soon = undefined;
    if (!claim && this.finished.length + this.unsent.length + this.cancels.length === 0) return;
    const now = clock.now();
    const judged = this.finished.map((f) => this.judge(f, now));
    this.finished = [];
    // Decided before the claims, so this pass refills freed slots, follows the new due
    // times, and claims nothing for a subscription it is switching off.
    this.occupy(judged, -1);
    this.hint(judged, now);
    const pauses = this.pauses(judged, now);
    const { unsent, cancels } = this;
    this.unsent = [];
    this.cancels = [];
    const plan = claim ? this.plan(now, new Set(pauses.map((p) => p.sub.id))) : null;
    // The store answers later (a round trip on PostgreSQL): a commit heard meanwhile must
    // survive the answer's due times.
    for (const entry of plan?.entries ?? []) this.lanes.of(entry.sub, now).claimSent();
    let claims: Claim[];
    try {
      if (this.strays) {
        const released = await store.releaseStrays(this.opts.leases.current.list, [...this.claimedSeqs.keys()], now);
        this.strays = false;
        if (released > 0) logger.warn({ released }, 'claims of a pass whose commit was in doubt re-queued');
      }
      const results = await store.recordAndClaim({
        now,
        records: judged.flatMap((j) => (j.decision ? [j.decision.record] : [])),
        release: [...judged.filter((j) => !j.decision).map((j) => j.claimed.seq), ...unsent],
        cancel: cancels,
        disable: pauses.map(({ sub, reason }) => ({ id: sub.id, reason })),
        claims: plan && { requests: plan.requests, budget: plan.budget },
        leases: (plan?.leases ?? this.opts.leases.current).list,
      });
      claims = results.map(({ claimed, nextDueAt }, k) => ({ entry: plan!.entries[k]!, claimed, nextDueAt: nextDueAt ?? INFINITY }));
      for (const { entry, claimed } of claims) {
        const epoch = plan!.leases.epochs.get(entry.sub.id)!;
        for (const c of claimed) this.claimedUnder.set(c, epoch);
      }
    } catch (err) {
      if (err instanceof NotDurableError) this.strays = true;
      for (const entry of plan?.entries ?? []) this.lanes.get(entry.sub.id)?.claimFailed();
      // Storage trouble (busy, full): keep everything for the next pass, shortly.
      this.occupy(judged, +1);
      this.finished = [...judged, ...this.finished];
      this.unsent = [...unsent, ...this.unsent];
      this.cancels = [...cancels, ...this.cancels];
      logger.error({ err }, 'dispatcher pass failed; retrying in 1 s');
      this.arm(now + 1000);
      return;
    }
    for (const j of judged) this.claimedSeqs.delete(j.claimed.seq);
    for (const seq of unsent) this.claimedSeqs.delete(seq);
    for (const seq of cancels) this.claimedSeqs.delete(seq);
    for (const { claimed } of claims) for (const c of claimed) this.claimedSeqs.set(c.seq, c.subscriptionId);
    this.settle(judged, now);
    this.pause(pauses, now);
    if (claim) this.launch(claims, now);
  }

  /** Decides a finished attempt against its subscription as it is now (changed, or deleted, meanwhile). */
  private judge(f: Finished, now: number): Judged {
    const judged = f as Judged;
    judged.entry = this.opts.index.get(f.claimed.subscriptionId);
    // Claimed under a lease this hub no longer holds at that epoch: the owner decides now
    // (unless the subscription is gone: then nobody else will, and it is cancelled here).
    const stale = judged.entry !== undefined && this.claimedUnder.get(f.claimed) !== this.opts.leases.epochOf(f.claimed.subscriptionId);
    judged.decision =
      f.result.outcome === 'aborted' || stale ? null : decide(f.claimed, f.result, f.startedAt, now, judged.entry?.policy ?? null, this.opts.random);
    return judged;
  }

  private occupy(judged: readonly Judged[], delta: 1 | -1): void {
    for (const j of judged) {
      const lane = this.lanes.get(j.claimed.subscriptionId);
      if (lane) lane.inFlight += delta;
      this.inFlight += delta;
    }
  }

  /** When the subscriptions of finished attempts next have work: seen by this pass's claims. */
  private hint(judged: readonly Judged[], now: number): void {
    for (const { claimed, entry, decision } of judged) {
      const lane = this.lanes.get(claimed.subscriptionId);
      if (!lane || !entry) continue;
      const next = decision?.record.result;
      // Ordered: the queue head moved on, or was rescheduled. Cut short: re-queued, due now.
      if (entry.sub.ordered || !next) lane.dueBy(now);
      else if ('nextAttemptAt' in next) lane.dueBy(next.nextAttemptAt);
    }
  }

  /**
   * What each subscription may claim now, in round-robin order; the store caps each claim by
   * what is left of the global room (`budget`) after the ones before it. Lanes change after
   * the store answered.
   */
  private plan(now: number, pausing: ReadonlySet<string>): ClaimPlan {
    const { index, maxInFlight, claimBatch } = this.opts;
    const subs = index.all();
    const leases = this.opts.leases.current;
    const plan: ClaimPlan = { entries: [], requests: [], budget: CLAIM_AHEAD * maxInFlight - this.inFlight, leases };
    for (let k = 0; k < subs.length && plan.budget > 0; k++) {
      const entry = subs[(this.roundRobin + k) % subs.length]!;
      const { sub } = entry;
      if (!sub.enabled || pausing.has(sub.id)) continue; // held: its deliveries wait, nothing is claimed
      if (!leases.epochs.has(sub.id) || !this.opts.leases.owns(sub.id)) continue; // another hub's, or being handed over
      const lane = this.lanes.of(sub, now);
      if (lane.nextDueAt > now) continue;
      const limit = Math.min(lane.room(sub, now), claimBatch);
      if (limit <= 0) continue; // a finished attempt or the timer wakes us
      plan.entries.push(entry);
      plan.requests.push({ subscriptionId: sub.id, ordered: sub.ordered, limit });
    }
    this.roundRobin = subs.length > 0 ? (this.roundRobin + 1) % subs.length : 0;
    return plan;
  }

  /** Starts the claimed attempts and sets the timer for the next known due time. */
  private launch(claims: readonly Claim[], now: number): void {
    let again = false;
    for (const { entry, claimed, nextDueAt } of claims) {
      const lane = this.lanes.of(entry.sub, now);
      lane.claimAnswered(nextDueAt);
      lane.inFlight += claimed.length;
      this.inFlight += claimed.length;
      lane.bucket?.take(claimed.length, now);
      if (claimed.length === this.opts.claimBatch && nextDueAt <= now) again = true; // more due than one batch
      lane.ready.push(...claimed);
      this.drain(entry.sub.id);
    }
    if (again) this.wake();
    else this.arm(this.nextWake(now));
  }

  /**
   * Sends what a lane has ready, within its `max_in_flight` and the global cap. What can no
   * longer be sent leaves it, written by the next pass: back to the queue when stopped or
   * disabled, cancelled when the subscription is gone.
   */
  private drain(subscriptionId: string): void {
    const lane = this.lanes.get(subscriptionId);
    if (!lane || lane.ready.length === 0) return;
    const entry = this.opts.index.get(subscriptionId);
    if (!this.running || !entry?.sub.enabled || !this.opts.leases.owns(subscriptionId)) {
      for (const c of lane.ready) (entry || !this.running ? this.unsent : this.cancels).push(c.seq);
      lane.inFlight -= lane.ready.length;
      this.inFlight -= lane.ready.length;
      lane.ready = [];
      this.readyLanes.delete(subscriptionId);
      this.wake();
      return;
    }
    const cap = entry.sub.ordered ? 1 : entry.sub.maxInFlight;
    while (lane.ready.length > 0 && lane.sending < cap && this.sending < this.opts.maxInFlight) {
      lane.sending++;
      this.send(entry, lane.ready.shift()!);
    }
    // To the back of the line: under the global cap, freed slots go round the lanes.
    this.readyLanes.delete(subscriptionId);
    if (lane.ready.length > 0) this.readyLanes.add(subscriptionId);
  }

  private drainReady(): void {
    for (const id of [...this.readyLanes]) this.drain(id); // a copy: drain moves lanes to the back
  }

  /** The earliest time an enabled subscription may have work: due, or its rate limit refilled. */
  private nextWake(now: number): number {
    let at = INFINITY;
    for (const { sub } of this.opts.index.all()) {
      if (!sub.enabled) continue;
      const lane = this.lanes.of(sub, now);
      const due = lane.bucket && lane.nextDueAt <= now ? lane.bucket.nextTokenAt(now) : lane.nextDueAt;
      if (due > now) at = Math.min(at, due);
    }
    return at;
  }

  private send(entry: IndexedSubscription, claimed: ClaimedDelivery): void {
    const startedAt = this.opts.clock.now();
    this.sending++;
    this.opts.sender.send(deliveryRequest(entry, claimed, this.opts.codec, startedAt), (result) => {
      this.finished.push({ claimed, result, startedAt, counted: false });
      const lane = this.lanes.get(claimed.subscriptionId);
      if (lane) lane.sending--;
      // The freed slot goes to what is ready, without waiting for a pass: to any lane when
      // the global cap held them all back (in turn), else only this lane can use it.
      const wasAtCap = this.sending === this.opts.maxInFlight;
      if (--this.sending === 0) this.drained?.();
      if (wasAtCap) this.drainReady();
      else this.drain(claimed.subscriptionId);
      // A pass at once when the lane has nothing more ready (or is ordered: the next waits
      // for this outcome); otherwise outcomes gather for up to PASS_DELAY_MS.
      if (!lane || lane.ready.length === 0 || entry.sub.ordered) this.wake();
      else this.soon ??= setTimeout(() => ((this.soon = undefined), this.wake()), PASS_DELAY_MS);
    });
  }

  /**
   * The subscriptions to switch off: a 410 Gone, or a failure record past the pause rule.
   * Each attempt enters its lane's failure record once, even if its pass is retried.
   */
  private pauses(judged: Judged[], now: number): Pause[] {
    const pauses = new Map<string, Pause>();
    for (const j of judged) {
      const lane = this.lanes.get(j.claimed.subscriptionId);
      if (!j.decision || !j.entry || !lane) continue;
      const failing = !j.counted && lane.failures.add(j.decision.record.result.state !== 'succeeded', now);
      j.counted = true;
      const { sub } = j.entry;
      if (!sub.enabled || pauses.has(sub.id)) continue;
      if (j.decision.gone) pauses.set(sub.id, { sub, reason: 'gone' });
      else if (failing) pauses.set(sub.id, { sub, reason: 'failing' });
    }
    return [...pauses.values()];
  }

  /** After commit: metrics and logs. */
  private settle(judged: readonly Judged[], now: number): void {
    const { metrics, logger } = this.opts;
    for (const { claimed, result, decision } of judged) {
      if (!decision) continue; // cut short: re-queued, not counted
      metrics.attempts(result.outcome).inc();
      metrics.attemptDuration.observe(result.durationMs / 1000);
      const next = decision.record.result;
      if (next.state === 'succeeded') {
        metrics.deliveryLatency.observe(Math.max(0, now - claimed.event.receivedAt) / 1000);
        continue;
      }
      const log = {
        deliveryId: claimed.id,
        subscriptionId: claimed.subscriptionId,
        eventId: claimed.event.id,
        attempt: claimed.attempt,
        status: result.status,
        error: result.error,
      };
      if (next.state === 'dead') {
        metrics.deadLettered.inc();
        logger.warn({ ...log, reason: decision.dead }, 'delivery dead');
      } else if (next.state === 'retrying') {
        logger.debug({ ...log, nextAttemptAt: next.nextAttemptAt }, 'delivery retried');
      }
    }
  }

  /** After commit: the index follows the subscriptions switched off; their deliveries are held, not dropped. */
  private pause(pauses: readonly Pause[], now: number): void {
    for (const { sub, reason } of pauses) {
      this.opts.index.set({ ...sub, enabled: false, disabledReason: reason, updatedAt: now });
      this.drain(sub.id); // what it had ready goes back to the queue
      this.opts.logger.warn({ subscriptionId: sub.id, reason }, 'subscription disabled; its deliveries are held until it is enabled');
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
