import type { CursorCodec } from '../domain/cursor.js';
import { envelopeJson, type StoredEvent } from '../domain/envelope.js';
import { encodeTextFrame } from './ws-frame.js';

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
    return (this.wsFrame ??= encodeTextFrame(`{"op":"event","event":${this.json()}}`));
  }

  /** One SSE message: `id:` the cursor, `data:` the envelope (JSON holds no raw newline). */
  sse(): Buffer {
    return (this.sseMessage ??= Buffer.from(`id: ${this.cursor}\ndata: ${this.json()}\n\n`));
  }

  private json(): string {
    return (this.envelope ??= envelopeJson(this.event, this.cursor));
  }
}
