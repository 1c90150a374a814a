import type { Random } from '../clock.js';
import { cursorCodec, newEpoch } from '../domain/cursor.js';
import { planOperational, subscriptionChangeEvents, subscriptionDeletedEvent, subscriptionDisabledEvent, type OperationalEvent } from '../domain/operational.js';
import { fillTemplate } from '../domain/response-template.js';
import { replayTargets, type Task } from '../domain/task.js';
import { newId } from '../domain/ids.js';
import { closeDatabase, openDatabase, type DbOptions } from './db.js';
import { deliveriesRepo } from './deliveries.js';
import { eventsRepo } from './events.js';
import { idempotencyRepo } from './idempotency.js';
import { keysRepo } from './keys.js';
import { memoryPresenceRows } from './presence-memory.js';
import { settingsRepo } from './settings.js';
import { storageError } from './storage-errors.js';
import { eventfulRecords, recordedEvents } from './operational.js';
import { NotDurableError, type ClaimResult, type OperationalAppend, type Store, type StoreChange } from './store.js';
import { subscriptionsRepo } from './subscriptions.js';
import { tasksRepo } from './tasks.js';

export * from './store.js';

/**
 * The SQLite store: the intents of `Store` over synchronous better-sqlite3 code, each
 * resolved at once. Durable writes (subscriptions, re-queues) flush the WAL before they
 * resolve; the group commit's append waits for the asynchronous WAL sync, its one await.
 */
export function openStore(options: DbOptions & { random: Random }): Store {
  const opened = openDatabase(options);
  const { db, wal } = opened;
  const settings = settingsRepo(db);
  let epoch = settings.get('epoch');
  if (!epoch) {
    epoch = newEpoch(options.random.bytes(10));
    settings.set('epoch', epoch);
    wal.syncNow();
  }
  const codec = cursorCodec(epoch);
  const events = eventsRepo(db, settings);
  const idempotency = idempotencyRepo(db);
  const subscriptions = subscriptionsRepo(db);
  const deliveries = deliveriesRepo(db);
  const keys = keysRepo(db);
  const tasks = tasksRepo(db);
  const probe = db.prepare("UPDATE settings SET value = value WHERE key = 'epoch'");
  // One wrapper for every transaction: better-sqlite3 builds four functions per
  // `db.transaction()` call, a measurable cost at one transaction per dispatcher pass.
  const inTransaction = db.transaction((fn: () => unknown) => fn()).immediate as <T>(fn: () => T) => T;
  /** A write transaction flushed to disk before it returns. */
  const durably = <T>(fn: () => T): T => {
    const result = inTransaction(fn);
    wal.syncNow();
    return result;
  };
  // Each intent is synchronous inside: a throw becomes a rejection, a result resolves at once.
  const run = <T>(fn: () => T): Promise<T> => {
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err as Error);
    }
  };
  const position = () => ({ head: events.headSeq(), prunedThrough: events.prunedThrough() });

  // Operational events are written inside the transaction of the change they report, outside
  // the group commit: once flushed, they are made visible and the log follower hears the head.
  const watchers: Array<(change: StoreChange) => void> = [];
  /** Writes operational events with their deliveries; call inside a transaction. */
  const writeOperational = (ops: readonly OperationalEvent[], now: number): OperationalAppend => {
    if (ops.length === 0) return { events: [], deliveries: [] };
    const planned = planOperational(ops, subscriptions.watchers(), now, options.random);
    const seqs = events.insertMany(planned.events);
    for (const d of planned.deliveries) {
      deliveries.insert({ id: d.id, subscriptionId: d.subscriptionId, eventId: planned.events[d.event]!.id, eventSeq: seqs[d.event]! }, now);
    }
    return { events: planned.events.map((e, i) => ({ id: e.id, seq: seqs[i]! })), deliveries: planned.deliveries };
  };
  /** Makes operational events visible (their transaction is durable) and has the log follower hear them. */
  const visible = (ops: OperationalAppend): void => {
    const last = ops.events.at(-1);
    if (!last) return;
    events.markDurable(last.seq);
    for (const w of watchers) w({ kind: 'head', head: last.seq });
  };
  /**
   * A dispatcher pass: bookkeeping, not flushed on its own, unless it wrote operational events
   * (readers must not see an event a power cut could undo).
   */
  const passWithEvents = <T extends { ops: OperationalAppend }>(fn: () => T): T => {
    const result = inTransaction(fn);
    if (result.ops.events.length > 0) {
      wal.syncNow();
      visible(result.ops);
    }
    return result;
  };
  /** `durably` for a transaction that may write operational events. */
  const durablyWithEvents = <T extends { ops: OperationalAppend }>(fn: () => T): T => {
    const result = durably(fn);
    visible(result.ops);
    return result;
  };
  // One hub holds the file: it owns every subscription, under one lease epoch for the run.
  // Taking them (the first renewal) re-queues what a previous run left in flight.
  let leasesTaken = false;

  const hubId = `hub_${options.random.bytes(8).toString('hex')}`;
  return {
    epoch,
    hubId,
    // The only writer: what it hears of is its own operational events.
    watch: (listener) => void watchers.push(listener),
    health: () => ({ listening: null }),
    appendsInFlight: Infinity,
    append(write) {
      let seqs: number[];
      try {
        seqs = inTransaction(() => {
          const positions = events.insertMany(write.events);
          for (const d of write.deliveries) {
            deliveries.insert({ id: d.id, subscriptionId: d.subscriptionId, eventId: write.events[d.event]!.id, eventSeq: positions[d.event]! }, write.now);
          }
          for (const k of write.idempotencyKeys) {
            idempotency.put(k.key, { fingerprint: k.fingerprint, response: fillTemplate(k.response, positions, codec.encode) }, write.now);
          }
          return positions;
        });
      } catch (err) {
        return Promise.reject(storageError(err) as Error);
      }
      // Syncs complete in commit order (one in flight at a time): so do these promises.
      return wal.sync().then(
        () => {
          if (seqs.length > 0) events.markDurable(seqs.at(-1)!);
          return { seqs };
        },
        (err: unknown) => {
          throw new NotDurableError(storageError(err));
        },
      );
    },

    position: () => run(position),
    readChannel: (channel, afterSeq, limit) => run(() => ({ events: events.listChannelAfter(channel, afterSeq, limit), ...position() })),
    readLog: (afterSeq, limit) => run(() => ({ events: events.listAfter(afterSeq, limit), ...position() })),
    eventById: (id) => run(() => events.getById(id)),

    // One hub: requests racing on a key are kept apart in memory (ingest/idempotency.ts).
    claimKey: (key, _fingerprint, since) =>
      run(() => {
        const saved = idempotency.get(key, since);
        return saved ? { state: 'saved', saved } : { state: 'claimed' };
      }),
    releaseKey: () => Promise.resolve(),

    subscriptions: () => run(() => ({ version: 0, subscriptions: subscriptions.all() })),
    subscription: (id) => run(() => subscriptions.get(id)),
    putSubscription: (sub) =>
      run(() => {
        durablyWithEvents(() => {
          const before = subscriptions.get(sub.id);
          subscriptions.put(sub);
          return { ops: writeOperational(subscriptionChangeEvents(before, sub), sub.updatedAt) };
        });
      }),
    deleteSubscription: (id, now) =>
      run(
        () =>
          durablyWithEvents(() => {
            const sub = subscriptions.get(id);
            const gone = sub !== undefined && subscriptions.delete(id);
            return { gone, ops: writeOperational(gone ? [subscriptionDeletedEvent(sub)] : [], now) };
          }).gone,
      ),
    appendOperational: (ops, now) => run(() => durablyWithEvents(() => ({ ops: writeOperational(ops, now) })).ops),

    createTask: (task) => run(() => durably(() => tasks.insert(task))),
    task: (id) => run(() => tasks.get(id)),
    // Looked for every second: flushed only when it took one.
    claimTask: (now, leaseMs) =>
      run(() => {
        const task = inTransaction(() => tasks.claim(hubId, now, now + leaseMs));
        if (task) wal.syncNow();
        return task;
      }),
    // Not flushed on its own, as a dispatcher pass is not: a flush per batch would queue behind
    // (and ahead of) the group commits' and double their wait. A process crash loses nothing;
    // a power cut may lose the last batches, progress with them, so the task does them again
    // (at least once: what was sent meanwhile may be sent twice).
    replayBatch: (taskId, now, leaseMs, limit) =>
      run(() =>
        inTransaction(() => {
          const task = tasks.held(taskId, hubId);
          if (!task) return undefined;
          const sub = subscriptions.get(task.subscriptionId);
          let next: Task;
          let created = 0;
          if (!sub) {
            next = { ...task, state: 'failed', error: 'the subscription was deleted', updatedAt: now };
          } else {
            const page = events.listAfter(task.position, limit).filter((e) => e.seq <= task.toSeq);
            const last = page.at(-1)?.seq ?? task.toSeq; // nothing left of the range: retention took it
            const owed = replayTargets(sub, task, page, deliveries.eventSeqsOf(sub.id, task.position, last));
            for (const e of owed) deliveries.insert({ id: newId('dlv', { now: () => now }, options.random), subscriptionId: sub.id, eventId: e.id, eventSeq: e.seq }, now);
            created = owed.length;
            next = { ...task, position: last, created: task.created + created, state: last >= task.toSeq ? 'succeeded' : 'running', updatedAt: now };
          }
          tasks.update(next, now + leaseMs);
          return { task: next, created };
        }),
      ),

    createKey: (key) => run(() => durably(() => keys.insert(key))),
    listKeys: () => run(() => keys.all()),
    keyByHash: (hash) => run(() => keys.byHash(hash)),
    revokeKey: (id) => run(() => durably(() => keys.delete(id))),
    // Bookkeeping: a lost last_used_at costs nothing but precision, so no flush of its own.
    recordKeysUsed: (uses) => run(() => inTransaction(() => uses.forEach(({ id, at }) => keys.used(id, at)))),

    delivery: (id) => run(() => deliveries.get(id)),
    deliveryAttempts: (seq) => run(() => deliveries.attempts(seq)),
    deliveriesOfEvent: (eventSeq) => run(() => deliveries.ofEvent(eventSeq)),
    listDeliveries: (filter) => run(() => deliveries.list(filter)),
    deliveryCounts: () => run(() => deliveries.counts()),

    renewLeases: (now) =>
      run(() => {
        const requeued = leasesTaken ? 0 : inTransaction(() => deliveries.releaseAll(now));
        leasesTaken = true;
        const leases = subscriptions.all().map((s) => ({ subscriptionId: s.id, epoch: 1 }));
        return { leases, hubs: 1, share: leases.length, requeued };
      }),
    releaseLeases: () => Promise.resolve(),
    retentionTurn: () => Promise.resolve(true),
    recordAndClaim: ({ now, records, release, cancel, disable, claims }) =>
      run(() =>
        passWithEvents(() => {
          // The operational events of this pass, from the rows as they were before it.
          const eventful = eventfulRecords(records);
          const ops = recordedEvents(eventful, deliveries.inFlight(eventful.map((r) => r.deliverySeq)));
          deliveries.record(records, now);
          deliveries.release(release, now);
          deliveries.cancelClaimed(cancel, now);
          for (const { id, reason } of disable) {
            const off = subscriptions.disable(id, reason, now);
            if (off) ops.push(subscriptionDisabledEvent(off, reason));
          }
          const written = writeOperational(ops, now);
          const results: ClaimResult[] = [];
          if (!claims) return { results, ops: written };
          let budget = claims.budget;
          // Nothing is sent for an event a power cut could still undo.
          const maxEventSeq = events.headSeq();
          for (const { subscriptionId, ordered, limit } of claims.requests) {
            if (budget <= 0) break;
            const result = deliveries.claim({ subscriptionId, ordered, limit: Math.min(limit, budget), now, maxEventSeq });
            budget -= result.claimed.length;
            results.push(result);
          }
          return { results, ops: written };
        }).results,
      ),

    // A SQLite pass either commits or throws having rolled back: never in doubt.
    releaseStrays: () => Promise.resolve(0),
    requeueDelivery: (id, now) => run(() => durably(() => deliveries.requeue(id, now))),
    redriveDead: (subscriptionId, now, batch, window) => run(() => durably(() => deliveries.redriveBatch(subscriptionId, now, batch, window))),
    cancelWaiting: (subscriptionId, now, batch) => run(() => durably(() => deliveries.cancelBatch(subscriptionId, now, batch))),

    pruneEvents: (cutoff, batch) => run(() => events.pruneBatch(cutoff, batch)),
    pruneIdempotencyKeys: (cutoff, batch) => run(() => idempotency.pruneBatch(cutoff, batch)),
    pruneFinishedDeliveries: (cutoff, batch) => run(() => deliveries.pruneFinished(cutoff, batch)),
    pruneDeliveriesOfPrunedEvents: (batch) => run(() => deliveries.pruneOfEventsThrough(events.prunedThrough(), batch)),

    ...memoryPresenceRows(),

    checkWritable: () =>
      run(() => {
        try {
          inTransaction(() => {
            probe.run();
            throw ROLLBACK;
          });
        } catch (err) {
          if (err !== ROLLBACK) throw err;
        }
      }),
    close: () => run(() => closeDatabase(opened)),
  };
}

const ROLLBACK = Symbol('rollback');
