import type { Clock, Random } from '../clock.js';
import type { CursorCodec } from '../domain/cursor.js';
import { acceptedEvent, type AcceptedEvent, type NewEvent, type PublishInput, type StoredEvent } from '../domain/envelope.js';
import { requestFingerprint } from '../domain/canonical-json.js';
import { newId } from '../domain/ids.js';
import type { GroupCommit, Via } from './group-commit.js';
import type { Idempotency, IdempotentResult } from './idempotency.js';

export interface PublishOptions {
  via: Via;
  idempotencyKey?: string | undefined;
}

export interface PublisherDeps {
  groupCommit: GroupCommit;
  idempotency: Idempotency;
  codec: CursorCodec;
  clock: Clock;
  random: Random;
}

/** The one ingest path for HTTP, WebSocket and CLI publishes: validate upstream, commit here. */
export class Publisher {
  constructor(private readonly deps: PublisherDeps) {}

  async publishOne(input: PublishInput, opts: PublishOptions): Promise<IdempotentResult<AcceptedEvent>> {
    return this.publish('one', [input], opts, (events) => this.accepted(events[0]!));
  }

  async publishBatch(
    inputs: PublishInput[],
    opts: PublishOptions,
  ): Promise<IdempotentResult<{ events: AcceptedEvent[] }>> {
    return this.publish('batch', inputs, opts, (events) => ({ events: events.map((e) => this.accepted(e)) }));
  }

  private async publish<T>(
    kind: 'one' | 'batch',
    inputs: PublishInput[],
    { via, idempotencyKey }: PublishOptions,
    shape: (events: StoredEvent[]) => T,
  ): Promise<IdempotentResult<T>> {
    const commit = async (save?: (body: T) => void): Promise<T> => {
      const now = this.deps.clock.now();
      const events = inputs.map((input) => this.newEvent(input, now));
      const stored = await this.deps.groupCommit.submit(events, via, save && ((s) => save(shape(s))));
      return shape(stored);
    };
    if (idempotencyKey === undefined) return { body: await commit(), replayed: false };
    const fingerprint = requestFingerprint({ kind, inputs });
    return this.deps.idempotency.run(idempotencyKey, fingerprint, commit);
  }

  private newEvent(input: PublishInput, now: number): NewEvent {
    return {
      id: newId('evt', this.deps.clock, this.deps.random),
      channel: input.channel,
      type: input.type,
      occurredAt: input.occurred_at === undefined ? now : Date.parse(input.occurred_at),
      receivedAt: now,
      data: JSON.stringify(input.data),
    };
  }

  private accepted(event: StoredEvent): AcceptedEvent {
    return acceptedEvent(event, this.deps.codec.encode(event.seq));
  }
}
