/**
 * The wire protocol of `GET /v1/ws` as the client sees it (docs/protocol.md, WebSocket). Types only:
 * the client ships no runtime dependency, so it loads in a browser as plain ES modules.
 */

/** The event envelope, the same on every transport. */
export interface HubEvent<TData = unknown> {
  id: string;
  channel: string;
  type: string;
  occurred_at: string;
  /** Opaque position in the hub's log; pass it back to resume after this event. */
  cursor: string;
  spec_version: '1';
  data: TData;
}

export type GapReason = 'cursor_expired' | 'foreign_cursor';

/** A member of a channel (presence): a token's `sub`, with its `info` claim (`{}` when none). */
export interface Member<TInfo = Record<string, unknown>> {
  sub: string;
  info: TInfo;
}

export type ClientFrame =
  | { op: 'subscribe'; channel: string; cursor?: string; presence?: boolean; id?: number }
  | { op: 'unsubscribe'; channel: string; id?: number }
  | { op: 'publish'; channel: string; type: string; data: unknown; occurred_at?: string; id?: number }
  | { op: 'ping'; id?: number }
  | { op: 'presence'; channel: string; id?: number };

export type ServerFrame =
  | {
      op: 'subscribed';
      id?: number;
      channel: string;
      resumed: boolean;
      reason?: GapReason;
      /** Every event of the channel after this position will follow (pushhub addition). */
      cursor?: string;
    }
  | { op: 'event'; event: HubEvent }
  | { op: 'unsubscribed'; id?: number; channel: string }
  | { op: 'ack'; id?: number; event_id: string; cursor: string }
  | { op: 'pong'; id?: number }
  | { op: 'error'; id?: number; code: string; message: string }
  | {
      op: 'presence';
      /** Absent on an unasked one: the channel crossed the member limit (truncated), or came back under it (members). */
      id?: number;
      channel: string;
      members?: Member[];
      count: number;
      truncated?: true;
    }
  | { op: 'join'; channel: string; member: Member }
  | { op: 'leave'; channel: string; member: { sub: string } };

/** Close codes the hub uses. */
export const CLOSE_UNAUTHORIZED = 4001;
export const CLOSE_SLOW_CONSUMER = 4008;
