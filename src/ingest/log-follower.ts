import type { StoredEvent } from '../domain/envelope.js';
import type { Logger } from '../logger.js';
import type { OutboxRow, Store } from '../store/index.js';

/**
 * Hears the log in order, every event once: `deliveries` are the outbox rows when the batch
 * is this hub's own commit, undefined when it was read from the store (another hub's).
 */
export type LogListener = (events: readonly StoredEvent[], deliveries: readonly OutboxRow[] | undefined) => void;

export interface LogFollowerOptions {
  store: Store;
  logger: Logger;
  /** Events read per page while catching up. */
  pageSize: number;
  /** Wait before reading again after a failed read. */
  retryMs: number;
}

/**
 * The log as one ordered stream, whoever wrote it. With one writer (SQLite) each commit
 * starts right after the last one and goes straight through. With several hubs on one
 * database, commits interleave: a batch this hub committed goes out from memory when it
 * starts at `tail + 1`; otherwise the gap before it (other hubs' commits) is read from the
 * store first. Heads other hubs announce (notifications, polls) are read the same way, page
 * by page. So listeners see every position once, in order, with no gap: the live fan-out and
 * the webhooks' wake-ups are correct across hubs.
 */
export class LogFollower {
  private tail: number;
  /** The highest position known to be committed. */
  private known: number;
  /** Own commits waiting for the positions before them, by first position. */
  private readonly own = new Map<number, { events: readonly StoredEvent[]; deliveries: readonly OutboxRow[] }>();
  private reading = false;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly listeners: LogListener[] = [];

  constructor(
    private readonly opts: LogFollowerOptions,
    head: number,
  ) {
    this.tail = head;
    this.known = head;
  }

  onEvents(listener: LogListener): void {
    this.listeners.push(listener);
  }

  /** The last position handed to the listeners. */
  get position(): number {
    return this.tail;
  }

  /** How far the stream is behind the highest position known to be committed. */
  get lag(): number {
    return this.known - this.tail;
  }

  /** This hub's commit, durable, in commit order. */
  committed(events: readonly StoredEvent[], deliveries: readonly OutboxRow[]): void {
    if (events.length === 0) return;
    const first = events[0]!.seq;
    const last = events.at(-1)!.seq;
    if (last <= this.tail) return; // already read from the store
    if (!this.reading && first === this.tail + 1) {
      this.tail = last;
      this.known = Math.max(this.known, last);
      this.emit(events, deliveries);
      return;
    }
    this.own.set(first, { events, deliveries });
    this.headAt(last);
  }

  /** Another hub (or a poll) says the log reaches `head`. */
  headAt(head: number): void {
    if (head > this.known) this.known = head;
    if (this.known > this.tail) void this.catchUp();
  }

  /** Reads the head again (after a reconnection: announcements may have been missed). */
  resync(): void {
    this.opts.store.position().then(
      ({ head }) => this.headAt(head),
      (err: unknown) => this.opts.logger.warn({ err }, 'log position unreadable; retrying'),
    );
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
  }

  private async catchUp(): Promise<void> {
    if (this.reading || this.closed) return;
    this.reading = true;
    try {
      while (this.tail < this.known && !this.closed) {
        const mine = this.own.get(this.tail + 1);
        if (mine) {
          this.own.delete(this.tail + 1);
          this.tail = mine.events.at(-1)!.seq;
          this.emit(mine.events, mine.deliveries);
          continue;
        }
        // Up to the next own commit at most: that one goes out from memory.
        let limit = this.opts.pageSize;
        for (const first of this.own.keys()) if (first > this.tail) limit = Math.min(limit, first - this.tail - 1);
        const page = await this.opts.store.readLog(this.tail, limit);
        if (page.head > this.known) this.known = page.head;
        // Positions at or before the pruned prefix are gone: the stream moves past them.
        const events = page.events.filter((e) => e.seq > this.tail);
        if (events.length === 0) {
          if (page.prunedThrough > this.tail) this.tail = Math.min(page.prunedThrough, this.known);
          else break; // not visible yet: the next announcement or poll brings it
          continue;
        }
        this.tail = events.at(-1)!.seq;
        for (const first of [...this.own.keys()]) if (first <= this.tail) this.own.delete(first);
        this.emit(events, undefined);
      }
    } catch (err) {
      this.opts.logger.warn({ err }, 'reading the log failed; retrying');
      this.retry = setTimeout(() => void this.catchUp(), this.opts.retryMs);
      this.retry.unref();
    } finally {
      this.reading = false;
    }
  }

  private emit(events: readonly StoredEvent[], deliveries: readonly OutboxRow[] | undefined): void {
    for (const listener of this.listeners) {
      try {
        listener(events, deliveries);
      } catch (err) {
        this.opts.logger.error({ err }, 'log listener failed');
      }
    }
  }
}
