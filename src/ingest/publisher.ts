import type { Clock, Random } from '../clock.js';
import type { CursorCodec } from '../domain/cursor.js';
import { acceptedJson, acceptedJsonParts, type NewEvent, type PublishInput, type StoredEvent } from '../domain/envelope.js';
import { requestFingerprint } from '../domain/canonical-json.js';
import { newId } from '../domain/ids.js';
import { responseTemplate, type ResponseTemplate } from '../domain/response-template.js';
import type { GroupCommit, JobKey, Via } from './group-commit.js';
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

  /** One event over HTTP; resolves with the `202` body as JSON text once it is durable. */
  publishOne(input: PublishInput, opts: PublishOptions): Promise<IdempotentResult> {
    return this.publish('one', [input], opts, (events) => this.acceptedJson(events[0]!), (events) =>
      responseTemplate([acceptedJsonParts(events[0]!)], 0),
    );
  }

  /** A batch over HTTP, all or nothing; the `202` body lists one result per input, in order. */
  publishBatch(inputs: PublishInput[], opts: PublishOptions): Promise<IdempotentResult> {
    return this.publish(
      'batch',
      inputs,
      opts,
      (events) => `{"events":[${events.map((e) => this.acceptedJson(e)).join(',')}]}`,
      (events) => responseTemplate(events.map(acceptedJsonParts), 0, '{"events":[', ',', ']}'),
    );
  }

  /** One event over WebSocket (no Idempotency-Key there): the committed event's id and cursor. */
  async publishFrame(input: PublishInput): Promise<{ id: string; cursor: string }> {
    const [event] = await this.commit([input], 'ws');
    return { id: event!.id, cursor: this.deps.codec.encode(event!.seq) };
  }

  /**
   * `toJson` renders the response from the stored events; `template` is the same response
   * before positions exist, saved with the key in the commit (the store fills the cursors in).
   */
  private async publish(
    kind: 'one' | 'batch',
    inputs: PublishInput[],
    { via, idempotencyKey }: PublishOptions,
    toJson: (events: StoredEvent[]) => string,
    template: (events: NewEvent[]) => ResponseTemplate,
  ): Promise<IdempotentResult> {
    if (idempotencyKey === undefined) return { json: toJson(await this.commit(inputs, via)), replayed: false };
    const fingerprint = requestFingerprint({ kind, inputs });
    return this.deps.idempotency.run(idempotencyKey, fingerprint, async () =>
      toJson(await this.commit(inputs, via, (events) => ({ key: idempotencyKey, fingerprint, response: template(events) }))),
    );
  }

  private commit(inputs: PublishInput[], via: Via, key?: (events: NewEvent[]) => JobKey): Promise<StoredEvent[]> {
    const now = this.deps.clock.now();
    const events = inputs.map((input) => this.newEvent(input, now));
    return this.deps.groupCommit.submit(events, via, key?.(events));
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

  private acceptedJson(event: StoredEvent): string {
    return acceptedJson(event, this.deps.codec.encode(event.seq));
  }
}
