import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js';
import { CLOSE_UNAUTHORIZED, type ClientFrame, type GapReason, type HubEvent, type Member, type ServerFrame } from './protocol.js';
import { defaultWebSocketFactory, type WebSocketFactory, type WebSocketLike } from './websocket.js';

export type { HubEvent, GapReason, Member } from './protocol.js';
export type { BackoffPolicy } from './backoff.js';
export type { WebSocketFactory, WebSocketLike } from './websocket.js';
export { backoffDelay } from './backoff.js';

export interface ClientOptions {
  /** The hub, e.g. `https://hub.example.com` or `ws://127.0.0.1:8080` (`/v1/ws` is added). */
  url: string;
  /**
   * A subscriber token or the server API key; or a function returning one, called on every
   * (re)connect, so an app can fetch a fresh token when the old one expired (close 4001).
   */
  token?: string | (() => string | Promise<string>);
  /** Reconnect delays; full jitter. Defaults: 500 ms first ceiling, ×2, 30 s cap. */
  backoff?: Partial<BackoffPolicy>;
  /** Sends `ping` this often and reconnects when nothing came back in `pongTimeoutMs`. 0: off. */
  pingIntervalMs?: number;
  pongTimeoutMs?: number;
  /** Overrides how sockets are made (tests, custom agents). */
  webSocket?: WebSocketFactory;
  /** Uniform [0, 1), for the jitter. */
  random?: () => number;
}

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** A subscription lost events: its cursor was too old (retention) or from another hub database. */
export interface Gap {
  channel: string;
  reason: GapReason;
  /** Delivery goes on after this position; fetch what you missed some other way. */
  cursor: string;
}

export interface SubscribeOptions {
  /** Resume after this cursor (e.g. one the app saved) instead of starting live. */
  cursor?: string;
  /** Called when the hub could not resume this channel (`subscribed` with `resumed: false`). */
  onGap?: (gap: Gap) => void;
  /** Called each time the hub confirms the subscription (after every reconnect too). */
  onSubscribed?: (info: { channel: string; resumed: boolean; cursor: string | undefined }) => void;
  /**
   * Keep the channel's member set (presence): a snapshot once subscribed (and after every
   * reconnect), then the hub's join and leave frames. `client.members(channel)` returns it.
   */
  presence?: boolean;
  /** A member joined (or its info changed); also for each one a fresh snapshot adds. */
  onJoin?: (member: Member) => void;
  /** A member left; also for each one a fresh snapshot no longer has. */
  onLeave?: (member: Member) => void;
  /** The whole set, after each snapshot (`truncated`: over the hub's member limit, no list and no joins or leaves). */
  onPresence?: (presence: PresenceState) => void;
}

/** Who is on a channel. */
export interface PresenceState {
  members: Member[];
  count: number;
  /** More members than the hub lists: `members` is empty and `count` is exact. */
  truncated: boolean;
}

/** An `error` frame, a refused credential, or a lost connection. */
export class PushhubError extends Error {
  override name = 'PushhubError';
  constructor(
    readonly code: string,
    message: string,
    readonly channel?: string,
  ) {
    super(message);
  }
}

export interface ClientEvents {
  state: ConnectionState;
  gap: Gap;
  error: PushhubError;
}

type Handler = (event: HubEvent<never>) => void;

interface ChannelState {
  handlers: Set<Handler>;
  gapHandlers: Set<(gap: Gap) => void>;
  subscribedHandlers: Set<NonNullable<SubscribeOptions['onSubscribed']>>;
  /** The last position delivered (or announced by the hub): where a reconnect resumes. */
  cursor: string | undefined;
  /** Subscribed with `presence: true`. */
  presence: boolean;
  members: Map<string, Member>;
  truncated: boolean;
  joinHandlers: Set<(member: Member) => void>;
  leaveHandlers: Set<(member: Member) => void>;
  presenceHandlers: Set<(presence: PresenceState) => void>;
}

interface PendingPresence {
  channel: string;
  resolve(presence: PresenceState): void;
  reject(err: PushhubError): void;
}

interface PendingPublish {
  frame: ClientFrame & { op: 'publish' };
  sent: boolean;
  resolve(ack: { event_id: string; cursor: string }): void;
  reject(err: PushhubError): void;
}

/**
 * A pushhub WebSocket client for browsers and Node. It keeps one connection, reconnects with
 * jittered exponential backoff, and resumes every channel from the last cursor it delivered,
 * so across drops each event reaches the app once, in order — or the app hears of the gap.
 */
export class PushhubClient {
  private readonly channels = new Map<string, ChannelState>();
  private readonly pendingPublishes = new Map<number, PendingPublish>();
  private readonly subscribeIds = new Map<number, string>();
  /** Presence requests sent on the current socket, by id; asked again after a reconnect (they change nothing). */
  private readonly presenceIds = new Map<number, PendingPresence>();
  private queuedPresence: PendingPresence[] = [];
  private readonly listeners: { [K in keyof ClientEvents]: Set<(v: ClientEvents[K]) => void> } = {
    state: new Set(),
    gap: new Set(),
    error: new Set(),
  };
  private readonly policy: BackoffPolicy;
  private socket: WebSocketLike | undefined;
  private factory: WebSocketFactory | undefined;
  private nextId = 1;
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private lastHeard = 0;
  private currentState: ConnectionState = 'connecting';
  private stopped = false;

  constructor(private readonly options: ClientOptions) {
    this.policy = { ...DEFAULT_BACKOFF, ...options.backoff };
    void this.connect();
  }

  get state(): ConnectionState {
    return this.currentState;
  }

  /** The cursor a reconnect would resume `channel` from. */
  cursor(channel: string): string | undefined {
    return this.channels.get(channel)?.cursor;
  }

  /**
   * Delivers the channel's events to `onEvent`, oldest first. Returns the function that
   * stops it. Several handlers on one channel share one subscription.
   */
  subscribe<TData = unknown>(
    channel: string,
    onEvent: (event: HubEvent<TData>) => void,
    options: SubscribeOptions = {},
  ): () => void {
    let state = this.channels.get(channel);
    const handler = onEvent as Handler;
    const presence = options.presence === true;
    if (!state) {
      state = {
        handlers: new Set(),
        gapHandlers: new Set(),
        subscribedHandlers: new Set(),
        cursor: options.cursor,
        presence,
        members: new Map(),
        truncated: false,
        joinHandlers: new Set(),
        leaveHandlers: new Set(),
        presenceHandlers: new Set(),
      };
      this.channels.set(channel, state);
      this.sendSubscribe(channel, state);
    } else if (presence && !state.presence) {
      // Subscribing again replaces the subscription on the hub, from the cursor: nothing is lost or repeated.
      state.presence = true;
      this.sendSubscribe(channel, state);
    }
    state.handlers.add(handler);
    const { onGap, onSubscribed, onJoin, onLeave, onPresence } = options;
    if (onGap) state.gapHandlers.add(onGap);
    if (onSubscribed) state.subscribedHandlers.add(onSubscribed);
    if (onJoin) state.joinHandlers.add(onJoin);
    if (onLeave) state.leaveHandlers.add(onLeave);
    if (onPresence) state.presenceHandlers.add(onPresence);
    return () => {
      const current = this.channels.get(channel);
      if (current !== state) return;
      state.handlers.delete(handler);
      if (onGap) state.gapHandlers.delete(onGap);
      if (onSubscribed) state.subscribedHandlers.delete(onSubscribed);
      if (onJoin) state.joinHandlers.delete(onJoin);
      if (onLeave) state.leaveHandlers.delete(onLeave);
      if (onPresence) state.presenceHandlers.delete(onPresence);
      if (state.handlers.size > 0) return;
      this.channels.delete(channel);
      this.sendFrame({ op: 'unsubscribe', channel, id: this.nextId++ });
    };
  }

  /**
   * Who is on a channel now (the token's `channels` must grant it). Asked again after a
   * reconnect if the connection drops first; rejects with the hub's `error` code.
   */
  presence(channel: string): Promise<PresenceState> {
    if (this.stopped) return Promise.reject(new PushhubError('closed', 'The client is closed.', channel));
    return new Promise((resolve, reject) => {
      const pending: PendingPresence = { channel, resolve, reject };
      if (this.isOpen()) this.sendPresence(pending);
      else this.queuedPresence.push(pending);
    });
  }

  /** The member set of a channel subscribed with `presence: true` (empty otherwise, or when truncated). */
  members(channel: string): Member[] {
    return [...(this.channels.get(channel)?.members.values() ?? [])];
  }

  /** Publishes over the connection (the token needs a `publish` grant); resolves on the hub's ack, after commit. */
  publish(channel: string, type: string, data: unknown, occurredAt?: string): Promise<{ event_id: string; cursor: string }> {
    if (this.stopped) return Promise.reject(new PushhubError('closed', 'The client is closed.', channel));
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      const frame: PendingPublish['frame'] = { op: 'publish', channel, type, data, id };
      if (occurredAt !== undefined) frame.occurred_at = occurredAt;
      const pending: PendingPublish = { frame, sent: false, resolve, reject };
      this.pendingPublishes.set(id, pending);
      if (this.isOpen()) {
        pending.sent = true;
        this.sendFrame(frame);
      }
    });
  }

  on<K extends keyof ClientEvents>(event: K, listener: (value: ClientEvents[K]) => void): () => void {
    this.listeners[event].add(listener);
    return () => this.listeners[event].delete(listener);
  }

  /** Closes the connection for good; pending publishes are rejected. */
  close(): void {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    this.detach()?.close(1000, 'client closed');
    for (const p of this.pendingPublishes.values()) p.reject(new PushhubError('closed', 'The client is closed.'));
    this.pendingPublishes.clear();
    for (const p of [...this.presenceIds.values(), ...this.queuedPresence]) p.reject(new PushhubError('closed', 'The client is closed.', p.channel));
    this.presenceIds.clear();
    this.queuedPresence = [];
    this.setState('closed');
  }

  // ── connection ───────────────────────────────────────────────────────────────────────

  private async connect(): Promise<void> {
    let socket: WebSocketLike;
    try {
      this.factory ??= this.options.webSocket ?? (await defaultWebSocketFactory());
      const token = typeof this.options.token === 'function' ? await this.options.token() : this.options.token;
      if (this.stopped) return;
      socket = this.factory(endpoint(this.options.url), token);
    } catch (err) {
      this.emit('error', new PushhubError('connect_failed', `Cannot connect: ${(err as Error).message}`));
      return this.scheduleReconnect();
    }
    this.socket = socket;
    socket.onopen = () => this.onOpen();
    socket.onmessage = (ev) => this.onMessage(String(ev.data));
    socket.onclose = (ev) => this.onClose(socket, ev.code, ev.reason);
    socket.onerror = () => {}; // a close follows; that is where we act
  }

  private onOpen(): void {
    this.setState('open');
    this.lastHeard = Date.now();
    this.subscribeIds.clear();
    for (const [channel, state] of this.channels) this.sendSubscribe(channel, state);
    for (const p of this.pendingPublishes.values()) {
      p.sent = true;
      this.sendFrame(p.frame);
    }
    const queued = this.queuedPresence;
    this.queuedPresence = [];
    for (const p of queued) this.sendPresence(p);
    const interval = this.options.pingIntervalMs ?? 25_000;
    if (interval > 0) {
      const timeout = this.options.pongTimeoutMs ?? 10_000;
      this.pingTimer = setInterval(() => {
        if (Date.now() - this.lastHeard > interval + timeout) return this.drop('the hub stopped answering pings');
        this.sendFrame({ op: 'ping' });
      }, interval);
    }
  }

  private onClose(socket: WebSocketLike, code: number, reason: string): void {
    if (socket !== this.socket) return; // a socket we already gave up on
    this.detach();
    if (this.stopped) return;
    if (code === CLOSE_UNAUTHORIZED && typeof this.options.token !== 'function') {
      // The same token would be refused again: stop, and let the app connect with a new one.
      this.emit('error', new PushhubError('unauthorized', `The hub refused the token (${reason || code}).`));
      this.close();
      return;
    }
    this.scheduleReconnect();
  }

  /** Gives up on the current socket at once (it may never report its close) and reconnects. */
  private drop(why: string): void {
    const socket = this.detach();
    try {
      socket?.close(4000, why);
    } catch {
      // already closing
    }
    if (!this.stopped) this.scheduleReconnect();
  }

  /** Forgets the current socket: publishes sent on it can no longer be acknowledged. */
  private detach(): WebSocketLike | undefined {
    const socket = this.socket;
    this.socket = undefined;
    clearInterval(this.pingTimer);
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = null;
    }
    for (const [id, p] of this.pendingPublishes) {
      if (!p.sent) continue;
      // It may or may not have been committed; the app decides whether to publish again.
      p.reject(new PushhubError('connection_lost', 'The connection closed before the hub acknowledged the publish.', p.frame.channel));
      this.pendingPublishes.delete(id);
    }
    this.queuedPresence.push(...this.presenceIds.values());
    this.presenceIds.clear();
    return socket;
  }

  private scheduleReconnect(): void {
    this.setState('reconnecting');
    const delay = backoffDelay(this.attempt++, this.policy, this.options.random ?? Math.random);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => void this.connect(), delay);
  }

  private onMessage(text: string): void {
    this.lastHeard = Date.now();
    this.attempt = 0; // the hub answered: the next drop starts the backoff afresh
    let frame: ServerFrame;
    try {
      frame = JSON.parse(text) as ServerFrame;
    } catch {
      return;
    }
    switch (frame.op) {
      case 'event':
        return this.deliver(frame.event);
      case 'subscribed':
        return this.onSubscribed(frame);
      case 'ack': {
        const p = frame.id === undefined ? undefined : this.pendingPublishes.get(frame.id);
        if (!p) return;
        this.pendingPublishes.delete(frame.id!);
        return p.resolve({ event_id: frame.event_id, cursor: frame.cursor });
      }
      case 'error':
        return this.onErrorFrame(frame);
      case 'presence':
        return this.onPresenceFrame(frame);
      case 'join':
        return this.onJoin(frame.channel, frame.member);
      case 'leave':
        return this.onLeave(frame.channel, frame.member.sub);
    }
  }

  private onPresenceFrame(frame: Extract<ServerFrame, { op: 'presence' }>): void {
    const presence: PresenceState = { members: frame.members ?? [], count: frame.count, truncated: frame.truncated === true };
    if (frame.id === undefined) {
      // Unasked: the channel crossed the hub's member limit, one way or the other.
      const state = this.channels.get(frame.channel);
      if (state?.presence) this.applySnapshot(frame.channel, state, presence);
      return;
    }
    const pending = this.presenceIds.get(frame.id);
    if (!pending) return;
    this.presenceIds.delete(frame.id);
    pending.resolve(presence);
  }

  /** Replaces a channel's member set, telling the handlers what changed. */
  private applySnapshot(channel: string, state: ChannelState, presence: PresenceState): void {
    const next = new Map(presence.members.map((m) => [m.sub, m]));
    const before = state.members;
    state.members = next;
    state.truncated = presence.truncated;
    if (!presence.truncated) {
      for (const [sub, member] of before) if (!next.has(sub)) this.call(channel, state.leaveHandlers, member);
      for (const member of next.values()) {
        const old = before.get(member.sub);
        if (!old || !sameInfo(old, member)) this.call(channel, state.joinHandlers, member);
      }
    }
    this.call(channel, state.presenceHandlers, presence);
  }

  private onJoin(channel: string, member: Member): void {
    const state = this.channels.get(channel);
    if (!state?.presence || state.truncated) return;
    const old = state.members.get(member.sub);
    state.members.set(member.sub, member);
    if (!old || !sameInfo(old, member)) this.call(channel, state.joinHandlers, member);
  }

  private onLeave(channel: string, sub: string): void {
    const state = this.channels.get(channel);
    const member = state?.members.get(sub);
    if (!state || !member) return;
    state.members.delete(sub);
    this.call(channel, state.leaveHandlers, member);
  }

  /** Calls an app's handlers; one that throws is reported and does not stop the others. */
  private call<T>(channel: string, handlers: Set<(value: T) => void>, value: T): void {
    for (const handler of handlers) {
      try {
        handler(value);
      } catch (err) {
        this.emit('error', new PushhubError('handler_failed', `A presence handler threw: ${(err as Error).message}`, channel));
      }
    }
  }

  private deliver(event: HubEvent): void {
    const state = this.channels.get(event.channel);
    if (!state) return; // unsubscribed meanwhile
    state.cursor = event.cursor;
    for (const handler of state.handlers) {
      try {
        handler(event as HubEvent<never>);
      } catch (err) {
        this.emit('error', new PushhubError('handler_failed', `An event handler threw: ${(err as Error).message}`, event.channel));
      }
    }
  }

  private onSubscribed(frame: Extract<ServerFrame, { op: 'subscribed' }>): void {
    if (frame.id !== undefined) this.subscribeIds.delete(frame.id);
    const state = this.channels.get(frame.channel);
    if (!state) return;
    if (frame.reason) {
      state.cursor = frame.cursor ?? state.cursor;
      const gap: Gap = { channel: frame.channel, reason: frame.reason, cursor: state.cursor ?? '' };
      for (const onGap of state.gapHandlers) onGap(gap);
      this.emit('gap', gap);
    } else if (state.cursor === undefined) {
      // Live from here: remember the position so a drop before the first event loses nothing.
      state.cursor = frame.cursor;
    }
    for (const onSubscribed of state.subscribedHandlers) {
      onSubscribed({ channel: frame.channel, resumed: frame.resumed, cursor: state.cursor });
    }
    if (state.presence) {
      // A fresh snapshot on every (re)subscribe: what changed while disconnected reaches onJoin/onLeave.
      this.presence(frame.channel).then(
        (presence) => {
          if (this.channels.get(frame.channel) === state) this.applySnapshot(frame.channel, state, presence);
        },
        () => {}, // refused: the subscribe was refused too, and the app heard of it
      );
    }
  }

  private onErrorFrame(frame: Extract<ServerFrame, { op: 'error' }>): void {
    const id = frame.id;
    const publish = id === undefined ? undefined : this.pendingPublishes.get(id);
    if (publish) {
      this.pendingPublishes.delete(id!);
      return publish.reject(new PushhubError(frame.code, frame.message, publish.frame.channel));
    }
    const asked = id === undefined ? undefined : this.presenceIds.get(id);
    if (asked) {
      this.presenceIds.delete(id!);
      return asked.reject(new PushhubError(frame.code, frame.message, asked.channel));
    }
    const channel = id === undefined ? undefined : this.subscribeIds.get(id);
    if (channel !== undefined) {
      this.subscribeIds.delete(id!);
      // A refused subscribe (forbidden, invalid channel…) would be refused again on every
      // reconnect: drop it and tell the app.
      this.channels.delete(channel);
    }
    this.emit('error', new PushhubError(frame.code, frame.message, channel));
  }

  // ── plumbing ─────────────────────────────────────────────────────────────────────────

  private sendSubscribe(channel: string, state: ChannelState): void {
    if (!this.isOpen()) return; // onOpen subscribes everything
    const id = this.nextId++;
    this.subscribeIds.set(id, channel);
    this.sendFrame({
      op: 'subscribe',
      channel,
      id,
      ...(state.cursor === undefined ? {} : { cursor: state.cursor }),
      ...(state.presence ? { presence: true } : {}),
    });
  }

  private sendPresence(pending: PendingPresence): void {
    const id = this.nextId++;
    this.presenceIds.set(id, pending);
    this.sendFrame({ op: 'presence', channel: pending.channel, id });
  }

  private isOpen(): boolean {
    return this.socket?.readyState === 1;
  }

  private sendFrame(frame: ClientFrame): void {
    if (this.isOpen()) this.socket!.send(JSON.stringify(frame));
  }

  private setState(state: ConnectionState): void {
    if (state === this.currentState) return;
    this.currentState = state;
    this.emit('state', state);
  }

  private emit<K extends keyof ClientEvents>(event: K, value: ClientEvents[K]): void {
    for (const listener of this.listeners[event]) listener(value);
  }
}

function sameInfo(a: Member, b: Member): boolean {
  return JSON.stringify(a.info) === JSON.stringify(b.info);
}

/** Connects to a hub. */
export function connect(options: ClientOptions): PushhubClient {
  return new PushhubClient(options);
}

/** `http://h:p` / `ws://h:p` (any path) → `ws://h:p/v1/ws`, keeping a path prefix the hub sits under. */
export function endpoint(url: string): string {
  const u = new URL(url);
  u.protocol = u.protocol === 'https:' || u.protocol === 'wss:' ? 'wss:' : 'ws:';
  if (!u.pathname.endsWith('/v1/ws')) u.pathname = `${u.pathname.replace(/\/$/, '')}/v1/ws`;
  return u.toString();
}
