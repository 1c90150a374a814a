import { once } from 'node:events';
import type { Socket } from 'node:net';
import type WebSocket from 'ws';
import { memberOf, type Principal } from '../auth/principal.js';
import type { WsOp } from '../auth/scopes.js';
import { isHubError } from '../errors.js';
import type { RealtimeContext } from './context.js';
import type { EventFrames } from './event-frames.js';
import { parseClientFrame, serverFrame, type ClientFrame, type FrameErrorCode, type GapReason } from './frames.js';
import { TokenBucket } from './rate-limit.js';
import { StreamSink } from './sink.js';
import { startSubscription } from './start-subscription.js';
import type { Subscription } from './subscription.js';
import { encodeTextFrame } from './ws-frame.js';

/** Close codes of docs/protocol.md. */
export const CloseCode = {
  goingAway: 1001,
  internalError: 1011,
  unauthorized: 4001,
  slowConsumer: 4008,
} as const;

type PublishFrame = Extract<ClientFrame, { op: 'publish' }>;

// The scope table names every client op, and only those (src/auth/scopes.ts).
type SameKeys<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const _everyOpHasAScope: SameKeys<ClientFrame['op'], WsOp> = true;
void _everyOpHasAScope;

/**
 * One WebSocket connection: its subscriptions, its publishes, and the sink fan-out writes
 * to. Kept lean (fields, no closures per connection) because idle connections are most of
 * the hub's memory.
 */
export class WsSession extends StreamSink {
  readonly transport = 'ws' as const;
  /** Pings sent since the last pong (the keepalive sweep drops the peer at two). */
  unansweredPings = 0;
  private subs: Map<string, Subscription> | undefined;
  private bucket: TokenBucket | undefined;
  private inFlight: Set<Promise<void>> | undefined;
  private closeTimer: NodeJS.Timeout | undefined;
  /** The hub is shutting down: publishes are refused (those under way still get their ack). */
  private draining = false;
  /**
   * A subscribe waiting for the store: frames that come meanwhile wait behind it, so the
   * client's frames are still handled (and answered) in the order sent.
   */
  private answering: Promise<void> | undefined;
  /** What presence shows of this connection: its token's `sub` and `info` (none for the API key or a token without `sub`). */
  private readonly member: ReturnType<typeof memberOf>;

  constructor(
    private readonly ws: WebSocket,
    /** The upgraded socket `ws` writes to; fan-out writes pre-framed events here too. */
    socket: Socket,
    private readonly principal: Principal,
    private readonly ctx: RealtimeContext,
  ) {
    super(socket, ctx.config.sendBufferBytes, ctx.writes);
    this.member = memberOf(principal);
  }

  // ── Sink ─────────────────────────────────────────────────────────────────────────────

  isOpen(): boolean {
    return this.ws.readyState === 1; // OPEN
  }

  protected encode(frames: EventFrames): Buffer {
    return frames.ws();
  }

  /** A `subscribed` frame of its own (no `id`: nothing asked for it), as a subscribe with an expired cursor gets. */
  protected gapNotice(channel: string, reason: GapReason, cursor: string): Buffer {
    return encodeTextFrame(serverFrame.subscribed(undefined, channel, false, cursor, reason));
  }

  protected closeSlow(buffered: number): void {
    this.ctx.metrics.slowConsumers.inc({ transport: 'ws' });
    this.ctx.logger.info({ sub: this.subject, buffered }, 'slow consumer disconnected');
    this.close(CloseCode.slowConsumer, 'slow consumer: resume from your last cursor');
  }

  // ── connection ───────────────────────────────────────────────────────────────────────

  get subject(): string | undefined {
    return this.principal.kind === 'subscriber' ? this.principal.sub : this.principal.keyId;
  }

  /** The key id of an API-key connection (`root` for the root key); undefined for a token. */
  get keyId(): string | undefined {
    return this.principal.kind === 'server' ? this.principal.keyId : undefined;
  }

  /** Closes with a code; a peer that does not answer the close within the grace is cut. */
  close(code: number, reason: string): void {
    if (this.ws.readyState >= 2) return; // CLOSING or CLOSED
    this.ctx.metrics.closes.inc({ code: String(code) });
    this.writePending(false); // the events queued before the close frame
    this.ws.close(code, reason);
    this.closeTimer = setTimeout(() => this.ws.terminate(), this.ctx.config.closeGraceMs);
    this.closeTimer.unref();
  }

  /** The connection ended: stop every subscription. */
  closed(): void {
    clearTimeout(this.closeTimer);
    if (!this.subs) return;
    for (const sub of this.subs.values()) this.drop(sub);
    this.subs = undefined;
  }

  /** The keepalive sweep: pings, or cuts a peer that left two pings unanswered. */
  keepalive(): void {
    if (this.unansweredPings >= 2) {
      this.ctx.metrics.closes.inc({ code: 'keepalive' });
      this.ws.terminate();
      return;
    }
    this.unansweredPings++;
    if (this.isOpen()) this.ws.ping();
  }

  whenClosed(): Promise<void> {
    if (this.ws.readyState === 3) return Promise.resolve();
    return once(this.ws, 'close').then(() => undefined);
  }

  /**
   * Shutdown: refuses publishes from now on and resolves once every one it took has been
   * answered. A publish taken during the wait would be committed while the close it waits
   * for goes ahead, and could lose its ack: the client would count as lost an event that
   * exists, and publish it again.
   */
  async drain(): Promise<void> {
    this.draining = true;
    if (this.inFlight) await Promise.allSettled([...this.inFlight]);
  }

  onMessage(data: Buffer, isBinary: boolean): void {
    if (!this.isOpen()) return; // closing: nothing new starts (a publish could not be acknowledged)
    const answered = this.answering ? this.answering.then(() => this.handle(data, isBinary)) : this.handle(data, isBinary);
    if (!answered) return;
    this.answering = answered;
    answered
      .catch((err: unknown) => this.ctx.logger.error({ err }, 'client frame failed'))
      .finally(() => {
        if (this.answering === answered) this.answering = undefined;
      });
  }

  /** One client frame; a subscribe returns the promise of its answer. */
  private handle(data: Buffer, isBinary: boolean): Promise<void> | undefined {
    if (!this.isOpen()) return; // closing: nothing new starts (a publish could not be acknowledged)
    if (isBinary) {
      this.sendError(undefined, 'invalid_message', 'Send text frames holding one JSON object.');
      return;
    }
    const parsed = parseClientFrame(data.toString('utf8'));
    if (!parsed.ok) {
      this.sendError(parsed.id, parsed.code, parsed.message);
      return;
    }
    const { frame } = parsed;
    this.ctx.metrics.framesIn.inc({ op: frame.op });
    switch (frame.op) {
      case 'subscribe':
        return this.subscribe(frame.id, frame.channel, frame.cursor, frame.presence === true);
      case 'unsubscribe':
        this.unsubscribe(frame.id, frame.channel);
        return;
      case 'publish':
        this.publish(frame);
        return;
      case 'ping':
        this.send(serverFrame.pong(frame.id));
        return;
      case 'presence':
        return this.presence(frame.id, frame.channel);
    }
  }

  private async subscribe(id: number | undefined, channel: string, cursor: string | undefined, presence: boolean): Promise<void> {
    if (!this.ctx.auth.authorize(this.principal, { read: channel })) {
      return this.sendError(id, 'forbidden', this.refusal(`subscribing to ${channel}`, 'read'));
    }
    this.subs ??= new Map();
    const previous = this.subs.get(channel);
    if (!previous && this.subs.size >= this.ctx.config.maxSubscriptionsPerConnection) {
      const max = this.ctx.config.maxSubscriptionsPerConnection;
      return this.sendError(id, 'too_many_subscriptions', `At most ${max} subscriptions per connection.`);
    }
    let started;
    try {
      started = await startSubscription(this.ctx, channel, this, cursor, (err) => {
        this.ctx.logger.error({ err, channel }, 'replay failed');
        this.close(CloseCode.internalError, 'replay failed: resume from your last cursor');
      });
    } catch (err) {
      this.ctx.logger.error({ err, channel }, 'subscribe failed');
      return this.sendError(id, 'internal_error', 'Internal error.');
    }
    if (!started.ok) return this.sendError(id, started.code, 'The cursor is not one this hub issued.');
    if (!this.isOpen()) return this.drop(started.sub); // the peer left while the store answered
    // Subscribing again replaces the subscription: the new cursor is what the client wants now.
    if (previous) this.drop(previous);
    (this.subs ??= new Map()).set(channel, started.sub);
    started.sub.presence = presence;
    // After `subscribed`: the member's own join comes after the frame that announced the subscription.
    this.send(serverFrame.subscribed(id, channel, started.resumed, started.cursor, started.reason));
    if (presence) this.ctx.presence.follow(channel);
    if (this.member) this.ctx.presence.enter(channel, this.member, this);
    void started.run();
  }

  private async presence(id: number | undefined, channel: string): Promise<void> {
    if (!this.ctx.auth.authorize(this.principal, { read: channel })) {
      return this.sendError(id, 'forbidden', this.refusal(`channel ${channel}`, 'read'));
    }
    let snapshot;
    try {
      snapshot = await this.ctx.presence.snapshot(channel);
    } catch (err) {
      this.ctx.logger.error({ err, channel }, 'presence failed');
      return this.sendError(id, 'internal_error', 'Internal error.');
    }
    this.send(serverFrame.presence(id, channel, snapshot));
  }

  private unsubscribe(id: number | undefined, channel: string): void {
    const sub = this.subs?.get(channel);
    if (sub) {
      this.drop(sub);
      this.subs!.delete(channel);
    }
    this.send(serverFrame.unsubscribed(id, channel));
  }

  private publish(frame: PublishFrame): void {
    const { op: _op, id, ...input } = frame;
    if (this.draining) return this.sendError(id, 'shutting_down', 'The hub is shutting down; publish again after reconnecting.');
    if (!this.ctx.auth.authorize(this.principal, { publish: input.channel })) {
      return this.sendError(id, 'forbidden', this.refusal(`publishing to ${input.channel}`, 'publish'));
    }
    const { publishRatePerS } = this.ctx.config;
    const now = this.ctx.clock.now();
    this.bucket ??= new TokenBucket(publishRatePerS, publishRatePerS, now);
    if (!this.bucket.take(now)) {
      return this.sendError(id, 'rate_limited', `At most ${publishRatePerS} publishes per second per connection.`);
    }
    const done = this.ctx.publisher.publishFrame(input).then(
      (event) => this.send(serverFrame.ack(id, event.id, event.cursor)),
      (err: unknown) => {
        if (!isHubError(err)) this.ctx.logger.error({ err }, 'publish over WebSocket failed');
        const code = isHubError(err) && isPublishRefusal(err.code) ? err.code : 'internal_error';
        this.sendError(id, code, isHubError(err) ? err.message : 'Internal error.');
      },
    );
    const inFlight = (this.inFlight ??= new Set());
    inFlight.add(done);
    void done.finally(() => inFlight.delete(done));
  }

  private drop(sub: Subscription): void {
    sub.cancel();
    this.ctx.registry.remove(sub);
    if (this.member) this.ctx.presence.exit(sub.channel, this.member.sub, this);
  }

  private refusal(what: string, scope: 'read' | 'publish'): string {
    return this.principal.kind === 'server' ? `This needs an API key with scope ${scope}.` : `The token does not grant ${what}.`;
  }

  /** A frame of its own (an answer, an ack), after the events queued before it. */
  private send(text: string): void {
    if (!this.isOpen()) return;
    this.writePending();
    this.ws.send(text);
  }

  private sendError(id: number | undefined, code: FrameErrorCode, message: string): void {
    this.ctx.metrics.frameErrors.inc({ code });
    this.send(serverFrame.error(id, code, message));
  }
}

function isPublishRefusal(code: string): code is 'overloaded' | 'storage_unavailable' | 'shutting_down' {
  return code === 'overloaded' || code === 'storage_unavailable' || code === 'shutting_down';
}
