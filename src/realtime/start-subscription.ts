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
 * Registers a subscription for live events first, holding them, and only then reads the
 * log's position: whatever commits meanwhile is held, none of it slips between the two. With
 * a resumable cursor it then replays the store from there; without a cursor, or with one that
 * cannot be resumed, it is live from the head read, and the head's cursor is handed back so a
 * client that has seen no event yet still has a position to resume from after a drop. The
 * caller cancels and unregisters `sub` if it no longer wants it when this resolves.
 */
export async function startSubscription(
  ctx: RealtimeContext,
  channel: string,
  sink: Sink,
  cursor: string | undefined,
  onFailure: (err: unknown) => void,
): Promise<Started> {
  const { store, codec, registry, metrics, config } = ctx;
  if (cursor !== undefined) {
    const decoded = codec.decode(cursor);
    if (!decoded.ok && decoded.reason === 'malformed') return { ok: false, code: 'invalid_cursor' };
  }
  const sub = new Subscription(channel, sink, config.maxHeldEvents);
  registry.add(sub);
  const replay = { store, codec, pageSize: config.replayPageSize, pauseBytes: config.sendBufferBytes / 2 };
  let position;
  try {
    position = await store.position();
  } catch (err) {
    sub.cancel();
    registry.remove(sub);
    throw err;
  }
  let reason: GapReason | undefined;
  if (cursor !== undefined) {
    const check = checkResume(cursor, codec, position);
    if (check.ok) {
      sub.startAfter(check.seq);
      metrics.resumes.inc({ transport: sink.transport, outcome: 'resumed' });
      const run = async (): Promise<void> => {
        try {
          const sent = await sub.replay(replay);
          metrics.replayEvents.observe({ transport: sink.transport }, sent);
          metrics.delivered.inc({ transport: sink.transport, phase: 'replay' }, sent);
          if (sub.overtaken) ctx.logger.info({ channel, transport: sink.transport, sent }, 'replay overtaken by retention; the subscriber was told (cursor_expired)');
        } catch (err) {
          onFailure(err);
        }
      };
      return { ok: true, sub, resumed: true, reason: undefined, cursor, run };
    }
    if (check.reason === 'malformed') return { ok: false, code: 'invalid_cursor' }; // decoded above: not reached
    reason = check.reason;
  }
  const { head } = position;
  sub.startAfter(head);
  metrics.resumes.inc({ transport: sink.transport, outcome: reason ?? 'live' });
  const run = async (): Promise<void> => {
    try {
      // What was committed after the head while this was being set up (normally nothing).
      const sent = await sub.goLive(replay);
      if (sent > 0) metrics.delivered.inc({ transport: sink.transport, phase: 'live' }, sent);
    } catch (err) {
      onFailure(err);
    }
  };
  return { ok: true, sub, resumed: false, reason, cursor: codec.encode(head), run };
}
