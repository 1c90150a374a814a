import type { CursorCodec } from '../domain/cursor.js';
import { envelopeJson, type StoredEvent } from '../domain/envelope.js';
import type { Transport } from './sink.js';
import { encodeTextFrame, encodeTextFrames } from './ws-frame.js';

/**
 * One event's bytes on the wire, serialised at most once per transport and shared by every
 * subscriber: the envelope JSON, the WebSocket `event` frame and the SSE message.
 */
export class EventFrames {
  private envelope: string | undefined;
  private wsFrame: Buffer | undefined;
  private sseMessage: Buffer | undefined;

  constructor(
    readonly event: StoredEvent,
    private readonly codec: CursorCodec,
  ) {}

  get seq(): number {
    return this.event.seq;
  }

  get cursor(): string {
    return this.codec.encode(this.event.seq);
  }

  /** A complete WebSocket text frame holding `{"op":"event","event":…}`. */
  ws(): Buffer {
    return (this.wsFrame ??= encodeTextFrame(wsPayload(this.json())));
  }

  /** One SSE message: `id:` the cursor, `data:` the envelope (JSON holds no raw newline). */
  sse(): Buffer {
    return (this.sseMessage ??= Buffer.from(sseMessage(this.cursor, this.json())));
  }

  private json(): string {
    return (this.envelope ??= envelopeJson(this.event, this.cursor));
  }
}

const wsPayload = (envelope: string): string => `{"op":"event","event":${envelope}}`;
const sseMessage = (cursor: string, envelope: string): string => `id: ${cursor}\ndata: ${envelope}\n\n`;

/**
 * A replay page for one subscriber, as one buffer: nothing to share there, so the events
 * are serialised straight into a single allocation and go out in one write.
 */
export function encodePage(events: readonly StoredEvent[], codec: CursorCodec, transport: Transport): Buffer {
  if (transport === 'ws') return encodeTextFrames(events.map((e) => wsPayload(envelopeJson(e, codec.encode(e.seq)))));
  return Buffer.from(
    events
      .map((e) => {
        const cursor = codec.encode(e.seq);
        return sseMessage(cursor, envelopeJson(e, cursor));
      })
      .join(''),
  );
}
