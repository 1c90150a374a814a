import { z } from 'zod';
import type { StoredEvent } from './envelope.js';
import { HUB_CHANNELS } from './operational.js';
import { compilePattern } from './patterns.js';
import type { Subscription } from './subscription.js';

/** A background task: a replay of the log to one subscription. */
export type TaskState = 'running' | 'succeeded' | 'failed';
export const TASK_KINDS = ['replay'] as const;
export type TaskKind = (typeof TASK_KINDS)[number];

export interface NewTask {
  id: string;
  kind: TaskKind;
  subscriptionId: string;
  /** The range: log positions after `fromSeq`, up to and including `toSeq`. */
  fromSeq: number;
  toSeq: number;
  /** Epoch ms: only events received at or after `since`, before `until` (null: no bound). */
  since: number | null;
  until: number | null;
  createdAt: number;
}

export interface Task extends NewTask {
  state: TaskState;
  /** The last log position looked at. */
  position: number;
  /** Deliveries created so far. */
  created: number;
  error: string | null;
  updatedAt: number;
}

export const taskViewSchema = z
  .strictObject({
    id: z.string(),
    kind: z.enum(TASK_KINDS),
    state: z.enum(['running', 'succeeded', 'failed']),
    done: z.int().min(0).meta({ description: 'Log positions of the range looked at so far.' }),
    total: z.int().min(0).meta({ description: 'Log positions in the range (fixed when the task was created).' }),
    error: z.string().nullable(),
    subscription_id: z.string(),
    deliveries_created: z.int().min(0).meta({ description: 'Deliveries the task created so far.' }),
    created_at: z.iso.datetime(),
    updated_at: z.iso.datetime(),
  })
  .meta({ id: 'Task' });
export type TaskView = z.output<typeof taskViewSchema>;

export function taskView(t: Task): TaskView {
  return {
    id: t.id,
    kind: t.kind,
    state: t.state,
    done: Math.max(0, Math.min(t.position, t.toSeq) - t.fromSeq),
    total: Math.max(0, t.toSeq - t.fromSeq),
    error: t.error,
    subscription_id: t.subscriptionId,
    deliveries_created: t.created,
    created_at: new Date(t.createdAt).toISOString(),
    updated_at: new Date(t.updatedAt).toISOString(),
  };
}

/** A `tasks` row as both stores read and write it (the claim columns aside). */
export interface TaskRow {
  id: string;
  kind: string;
  subscription_id: string;
  state: string;
  from_seq: number;
  to_seq: number;
  since: number | null;
  until: number | null;
  position: number;
  created: number;
  error: string | null;
  created_at: number;
  updated_at: number;
}

export const TASK_COLUMNS = [
  'id', 'kind', 'subscription_id', 'state', 'from_seq', 'to_seq', 'since', 'until', 'position', 'created', 'error', 'created_at', 'updated_at',
] as const satisfies ReadonlyArray<keyof TaskRow>;

export function fromTaskRow(r: TaskRow): Task {
  return {
    id: r.id,
    kind: r.kind as TaskKind,
    subscriptionId: r.subscription_id,
    state: r.state as TaskState,
    fromSeq: r.from_seq,
    toSeq: r.to_seq,
    since: r.since,
    until: r.until,
    position: r.position,
    created: r.created,
    error: r.error,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function toTaskRow(t: Task): TaskRow {
  return {
    id: t.id,
    kind: t.kind,
    subscription_id: t.subscriptionId,
    state: t.state,
    from_seq: t.fromSeq,
    to_seq: t.toSeq,
    since: t.since,
    until: t.until,
    position: t.position,
    created: t.created,
    error: t.error,
    created_at: t.createdAt,
    updated_at: t.updatedAt,
  };
}

/**
 * The events of a replay page owed to `sub`: those its patterns match (a `$` channel only by a
 * pattern that names it; never an event about the subscription itself, never a test event,
 * which belongs to the one subscription it was sent to), received within the task's window,
 * that it has no delivery for yet.
 */
export function replayTargets(
  sub: Pick<Subscription, 'id' | 'channels' | 'types'>,
  window: Pick<Task, 'since' | 'until'>,
  events: readonly StoredEvent[],
  delivered: ReadonlySet<number>,
): StoredEvent[] {
  const channel = sub.channels.map(compilePattern);
  const type = sub.types?.map(compilePattern);
  return events.filter((e) => {
    if (delivered.has(e.seq) || e.channel === HUB_CHANNELS.test) return false;
    if (window.since !== null && e.receivedAt < window.since) return false;
    if (window.until !== null && e.receivedAt >= window.until) return false;
    if (!channel.some((m) => m(e.channel)) || (type !== undefined && !type.some((m) => m(e.type)))) return false;
    return !(e.channel.startsWith('$') && aboutSubscription(e.data) === sub.id);
  });
}

function aboutSubscription(data: string): unknown {
  try {
    const parsed = JSON.parse(data) as { subscription_id?: unknown } | null;
    return parsed?.subscription_id;
  } catch {
    return undefined;
  }
}
