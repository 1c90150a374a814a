/**
 * The hub's event envelope (docs/protocol.md field order) as the fan-out peers send it: the
 * bare `ws` and Socket.IO servers build it from a publish, and the load generator builds it
 * for Nchan, which relays the body it is given. Same fields and sizes as the hub's.
 */
export interface PublishBody {
  channel: string;
  type: string;
  data: unknown;
}

/** The envelope of the nth published event. */
export function envelope(input: PublishBody, seq: number) {
  return {
    id: `evt_01JD6Z7${String(seq).padStart(19, '0')}`,
    channel: input.channel,
    type: input.type,
    occurred_at: new Date().toISOString(),
    cursor: `abcdefghij-${seq.toString(36)}`,
    spec_version: '1',
    data: input.data,
  };
}
