import { checkResume } from '../domain/cursor.js';
import type { RealtimeContext } from './context.js';
import type { GapReason } from './frames.js';
import type { Sink } from './sink.js';
import { Subscription } from './subscription.js';

export type Started =
  | { ok: false; code: 'invalid_cursor' }
  | {
      ok: true;
      sub: Subscription;
      /** True when the events after the given cursor will be replayed. */
      resumed: boolean;
      /** Why a given cursor could not be resumed from. */
      reason: GapReason | undefined;
      /** Every event of the channel after this position will be delivered. */
      cursor: string;
      /** Sends the replay (when resumed) and goes live; call after announcing the subscription. */
      run(): Promise<void>;
    };

/**
 * Registers a subscription for live events first, then (with a resumable cursor) lets it
 * replay the store from there. Without a cursor, or with one that cannot be resumed, it is
 * live from the current head, and the head's cursor is handed back so a client that has
 * seen no event yet still has a position to resume from after a drop.
 */
export function startSubscription(
  ctx: RealtimeContext,
  channel: string,
  sink: Sink,
  cursor: string | undefined,
  onFailure: (err: unknown) => void,
): Started {
  const { store, codec, registry, metrics, config } = ctx;
  const events = store.events;
  let reason: GapReason | undefined;
  if (cursor !== undefined) {
    const check = checkResume(cursor, codec, { prunedThrough: events.prunedThrough(), head: events.headSeq() });
    if (check.ok) {
      const sub = new Subscription(channel, sink, check.seq, true, config.maxHeldEvents);
      registry.add(sub);
      metrics.resumes.inc({ transport: sink.transport, outcome: 'resumed' });
      const run = async (): Promise<void> => {
        try {
          const sent = await sub.replay({
            events,
            codec,
            pageSize: config.replayPageSize,
            pauseBytes: config.sendBufferBytes / 2,
          });
          metrics.replayEvents.observe({ transport: sink.transport }, sent);
          metrics.delivered.inc({ transport: sink.transport, phase: 'replay' }, sent);
          if (sub.overtaken) ctx.logger.info({ channel, transport: sink.transport, sent }, 'replay overtaken by retention; the subscriber was told (cursor_expired)');
        } catch (err) {
          onFailure(err);
        }
      };
      return { ok: true, sub, resumed: true, reason: undefined, cursor, run };
    }
    if (check.reason === 'malformed') return { ok: false, code: 'invalid_cursor' };
    reason = check.reason;
  }
  const head = events.headSeq();
  const sub = new Subscription(channel, sink, head, false, config.maxHeldEvents);
  registry.add(sub);
  metrics.resumes.inc({ transport: sink.transport, outcome: reason ?? 'live' });
  return { ok: true, sub, resumed: false, reason, cursor: codec.encode(head), run: async () => {} };
}
