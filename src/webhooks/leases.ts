import type { Clock } from '../clock.js';
import { coalesced } from '../coalesce.js';
import type { Logger } from '../logger.js';
import type { Lease, Store } from '../store/index.js';

export interface LeaseKeeperOptions {
  store: Store;
  /** How long a lease lasts in the database without renewal. */
  leaseMs: number;
  clock: Clock;
  logger: Logger;
  /** The leases held changed: `gained` may be dispatched now; `lost` must not be any more. */
  onChange(gained: readonly string[], lost: readonly string[]): void;
  /** Whether this hub has claims of the subscription not yet written back: its lease is handed over only once it has none. */
  holdsClaims(subscriptionId: string): boolean;
}

/** Renewals per lease: a renewal that fails leaves two more tries before the lease runs out. */
const RENEWALS_PER_LEASE = 3;
/** Of a lease, how much this hub trusts it has left after sending a renewal: the rest is a margin. */
const TRUSTED = 0.75;

/**
 * The subscriptions whose webhook work this hub owns (several hubs share a database: one
 * owner each). Renews them every third of a lease and takes free ones (the store decides
 * which, up to this hub's share). The database's leases are in its own time; here, a lease
 * is trusted for 3/4 of its length from the moment its renewal was sent, measured on the
 * monotonic clock (not the injected wall clock: elapsed real time is what a lease is). A hub
 * that cannot renew (the database unreachable, its packets dropped) stops sending before its
 * leases can expire, so it never sends after a new owner has moved on.
 *
 * A hub holding more than its share (another hub joined) hands the excess over: those
 * subscriptions take no new work here (`owns` is false, their leases still fence what is
 * under way), and each lease is given up once this hub's claims of it are written back, for
 * a hub below its share to take. Nothing is sent twice for it, and no order is broken.
 */
/** The leases held at one moment: replaced, never changed, so a pass may keep it. */
export interface LeaseSnapshot {
  readonly list: readonly Lease[];
  readonly epochs: ReadonlyMap<string, number>;
}

const NONE: LeaseSnapshot = { list: [], epochs: new Map() };

export class LeaseKeeper {
  private held: LeaseSnapshot = NONE;
  private trustedUntil = 0;
  private hubCount = 1;
  /** Held, and to be given up once nothing of theirs is claimed here (more than this hub's share). */
  private readonly handingOver = new Set<string>();
  private renewTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** One renewal at a time; asked for meanwhile (renewSoon), one more after it. */
  private readonly renew = coalesced(async () => {
    if (!this.stopped) await this.renewOnce();
  });

  constructor(private readonly opts: LeaseKeeperOptions) {}

  /** Takes the first leases (before the dispatcher runs) and keeps renewing them. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.renew();
    this.renewTimer = setInterval(() => void this.renew(), this.opts.leaseMs / RENEWALS_PER_LEASE);
    this.renewTimer.unref();
  }

  /** Stops renewing and gives every lease up: another hub may take them at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.renewTimer);
    clearTimeout(this.expiryTimer);
    await this.renew(); // waits for one under way (stopped: it does nothing more)
    this.held = NONE;
    this.handingOver.clear();
    await this.opts.store.releaseLeases().catch((err: unknown) => this.opts.logger.warn({ err }, 'leases not released; they expire by themselves'));
  }

  /** Whether this hub may claim and send for the subscription now. */
  owns(subscriptionId: string): boolean {
    return this.held.epochs.has(subscriptionId) && !this.handingOver.has(subscriptionId);
  }

  /** The lease epoch this hub holds the subscription under, if it does. */
  epochOf(subscriptionId: string): number | undefined {
    return this.held.epochs.get(subscriptionId);
  }

  /** Every lease held now, for the store's fencing. */
  get current(): LeaseSnapshot {
    return this.held;
  }

  get count(): number {
    return this.held.list.length;
  }

  /** Hubs alive at the last renewal, this one included. */
  get hubs(): number {
    return this.hubCount;
  }

  /** Renews now (another hub gave leases up, a subscription was created); coalesced. */
  renewSoon(): void {
    void this.renew();
  }

  private async renewOnce(): Promise<void> {
    const { store, leaseMs, clock, logger } = this.opts;
    const sentAt = performance.now();
    let grant;
    try {
      grant = await store.renewLeases(clock.now(), leaseMs);
    } catch (err) {
      logger.warn({ err, held: this.count }, 'lease renewal failed');
      return;
    }
    if (grant.requeued > 0) logger.info({ requeued: grant.requeued }, 'deliveries left in flight by the previous run re-queued');
    if (this.stopped) return;
    const next = new Map(grant.leases.map((l) => [l.subscriptionId, l.epoch]));
    const gained: string[] = [];
    const lost: string[] = [];
    for (const [id, epoch] of next) if (this.epochOf(id) !== epoch) gained.push(id);
    for (const [id, epoch] of this.held.epochs) if (next.get(id) !== epoch) lost.push(id);
    if (gained.length > 0 || lost.length > 0) this.held = { list: grant.leases, epochs: next };
    this.hubCount = grant.hubs;
    this.trustedUntil = sentAt + leaseMs * TRUSTED;
    clearTimeout(this.expiryTimer);
    this.expiryTimer = setTimeout(() => this.expire(), Math.max(0, this.trustedUntil - performance.now()));
    this.expiryTimer.unref();
    if (gained.length > 0 || lost.length > 0) {
      if (gained.length > 0) logger.info({ subscriptions: gained.length }, 'webhook leases taken');
      if (lost.length > 0) logger.info({ subscriptions: lost.length }, 'webhook leases lost');
      this.opts.onChange(gained, lost);
    }
    await this.rebalance(grant.share);
  }

  /** Hands over what is held beyond the share, or keeps it again when the share grew (a hub left). */
  private async rebalance(share: number): Promise<void> {
    const { store, logger, holdsClaims, onChange } = this.opts;
    for (const id of this.handingOver) if (!this.held.epochs.has(id)) this.handingOver.delete(id);
    const excess = Math.max(0, this.held.list.length - share);
    if (excess < this.handingOver.size) {
      const kept = [...this.handingOver].slice(excess);
      for (const id of kept) this.handingOver.delete(id);
      onChange(kept, []);
    } else if (excess > this.handingOver.size) {
      // Those with nothing claimed here first: they go at once.
      const more = this.held.list
        .map((l) => l.subscriptionId)
        .filter((id) => !this.handingOver.has(id))
        .sort((a, b) => Number(holdsClaims(a)) - Number(holdsClaims(b)))
        .slice(0, excess - this.handingOver.size);
      for (const id of more) this.handingOver.add(id);
      onChange([], more);
    }
    const idle = [...this.handingOver].filter((id) => !holdsClaims(id));
    if (idle.length === 0) return;
    try {
      await store.releaseLeases(idle);
    } catch (err) {
      logger.warn({ err }, 'leases not handed over; trying again at the next renewal');
      return;
    }
    for (const id of idle) this.handingOver.delete(id);
    const list = this.held.list.filter((l) => !idle.includes(l.subscriptionId));
    this.held = { list, epochs: new Map(list.map((l) => [l.subscriptionId, l.epoch])) };
    logger.info({ subscriptions: idle.length }, 'webhook leases handed over to a hub below its share');
  }

  /** No renewal got through in time: every lease is given up here before it can expire there. */
  private expire(): void {
    if (performance.now() < this.trustedUntil || this.count === 0) return;
    const lost = [...this.held.epochs.keys()];
    this.held = NONE;
    this.handingOver.clear();
    this.opts.logger.warn({ subscriptions: lost.length }, 'leases could not be renewed in time: webhook sending stopped until they are');
    this.opts.onChange([], lost);
  }
}
