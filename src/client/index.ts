import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js';
import { CLOSE_UNAUTHORIZED, type ClientFrame, type GapReason, type HubEvent, type ServerFrame } from './protocol.js';
import { defaultWebSocketFactory, type WebSocketFactory, type WebSocketLike } from './websocket.js';

export type { HubEvent, GapReason } from './protocol.js';
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
    if (!state) {
      state = { handlers: new Set(), gapHandlers: new Set(), subscribedHandlers: new Set(), cursor: options.cursor };
      this.channels.set(channel, state);
      this.sendSubscribe(channel, state);
    }
    state.handlers.add(handler);
    const { onGap, onSubscribed } = options;
    if (onGap) state.gapHandlers.add(onGap);
    if (onSubscribed) state.subscribedHandlers.add(onSubscribed);
    return () => {
      const current = this.channels.get(channel);
      if (current !== state) return;
      state.handlers.delete(handler);
      if (onGap) state.gapHandlers.delete(onGap);
      if (onSubscribed) state.subscribedHandlers.delete(onSubscribed);
      if (state.handlers.size > 0) return;
      this.channels.delete(channel);
      this.sendFrame({ op: 'unsubscribe', channel, id: this.nextId++ });
    };
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
  }

  private onErrorFrame(frame: Extract<ServerFrame, { op: 'error' }>): void {
    const id = frame.id;
    const publish = id === undefined ? undefined : this.pendingPublishes.get(id);
    if (publish) {
      this.pendingPublishes.delete(id!);
      return publish.reject(new PushhubError(frame.code, frame.message, publish.frame.channel));
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
    this.sendFrame({ op: 'subscribe', channel, id, ...(state.cursor === undefined ? {} : { cursor: state.cursor }) });
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
