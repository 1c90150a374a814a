import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { originRefusedMessage } from '../domain/origins.js';
import { HubError, invalidRequest } from '../errors.js';
import { bearerOf, type Principal } from '../auth/principal.js';
import { endWithError } from '../raw-error.js';
import { redactUrl } from '../logger.js';
import type { DocumentedRoute } from '../reference/openapi.js';
import type { RealtimeContext } from './context.js';
import { armTokenExpiry } from './token-expiry.js';
import { CloseCode, WsSession } from './ws-session.js';

const PATH = '/v1/ws';

/** The upgrade, as the HTTP reference shows it (its frames are in /asyncapi.json). */
export const wsUpgradeDoc: DocumentedRoute = {
  method: 'GET',
  url: PATH,
  doc: {
    operationId: 'openWebSocket',
    summary: 'Open a WebSocket: subscribe, publish, resume (frames in /asyncapi.json)',
    description:
      'A WebSocket upgrade (RFC 6455). The credential (Authorization header or ?token=) is judged before the handshake ' +
      'but refused after it, with close code 4001, since a browser cannot read the status of a refused upgrade. ' +
      'An Origin not allowed by PUSHHUB_CORS_ORIGINS is refused with 403 before the upgrade. Any valid API key opens it; ' +
      'each operation then needs its scope (subscribe and presence: read; publish: publish), or a token granting the channel.',
    tag: 'channels',
    access: 'subscriber',
    credentialAfterUpgrade: true,
    responses: { 101: { description: 'Switching Protocols: the WebSocket is open.' } },
    errors: ['not_found', 'method_not_allowed', 'invalid_request', 'overloaded'],
  },
};

/**
 * `GET /v1/ws`: upgrades on the HTTP server's `upgrade` event with `ws` in `noServer` mode.
 * Not @fastify/websocket: that wraps every connection in a Fastify request and reply kept
 * for its lifetime, which costs memory per idle connection and buys nothing here (auth and
 * limits are checked before the handshake, on the raw request).
 */
export class WsServer {
  readonly sessions = new Set<WsSession>();
  private readonly wss: WebSocketServer;
  private keepalive: NodeJS.Timeout | undefined;
  private closing = false;

  constructor(
    private readonly ctx: RealtimeContext,
    /** Connections of both transports, for the shared limit. */
    private readonly connectionCount: () => number,
  ) {
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false, // fan-out writes pre-framed bytes: see ws-frame.ts
      maxPayload: ctx.config.maxFrameBytes, // larger → ws closes with 1009
    });
    // ws answers a handshake it cannot accept (wrong method, key or version) in text/html:
    // answer in the API's error shape instead, keeping the version header RFC 6455 asks for.
    this.wss.on('wsClientError', (err, socket) => {
      if (/method/i.test(err.message)) {
        return endWithError(socket, new HubError('method_not_allowed', { message: 'A WebSocket upgrade must be a GET.' }));
      }
      const headers: Record<string, string> = /version/i.test(err.message) ? { 'Sec-WebSocket-Version': '13, 8' } : {};
      endWithError(socket, invalidRequest([{ field: 'headers', message: err.message }]), headers);
    });
  }

  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      void this.onUpgrade(req, socket, head);
    });
  }

  start(): void {
    this.keepalive = setInterval(() => this.sweep(), this.ctx.config.pingIntervalMs);
    this.keepalive.unref();
  }

  private async onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const onEarlyError = (): void => void socket.destroy(); // a reset before the handshake is no error of ours
    socket.on('error', onEarlyError);
    const url = new URL(req.url ?? '/', 'http://hub');
    if (url.pathname !== PATH) return refuse(socket, 'not_found', `No WebSocket endpoint at ${url.pathname}.`);
    // Browsers let any page open a WebSocket anywhere; Origin is the only thing telling the
    // hub whose page it is. No Origin: not a browser, nothing to protect against.
    const { origin } = req.headers;
    if (origin !== undefined && !this.ctx.originAllowed(origin)) {
      this.ctx.logger.debug({ origin }, 'WebSocket upgrade refused: origin not allowed');
      return refuse(socket, 'forbidden', originRefusedMessage(origin));
    }
    if (this.closing) return refuse(socket, 'shutting_down', 'The hub is shutting down; retry later.');
    if (this.connectionCount() >= this.ctx.config.maxConnections) {
      return refuse(socket, 'overloaded', 'The hub has reached its connection limit; retry later.');
    }
    // Authenticate before the handshake, but answer a bad credential with close 4001 after it:
    // a browser cannot read the status of a refused upgrade, only a close code.
    let principal: Principal | undefined;
    try {
      const { authorization } = req.headers;
      const credential = authorization ? bearerOf(authorization) : url.searchParams.get('token') || undefined;
      principal = await this.ctx.auth.authenticate(credential);
    } catch (err) {
      this.ctx.logger.debug({ err: { message: (err as Error).message }, url: redactUrl(req.url ?? '') }, 'WebSocket credential refused');
    }
    if (socket.destroyed) return;
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      socket.off('error', onEarlyError); // ws handles socket errors from here on
      if (!principal) {
        this.ctx.metrics.closes.inc({ code: String(CloseCode.unauthorized) });
        ws.close(CloseCode.unauthorized, 'token missing, invalid or expired');
        return;
      }
      this.open(ws, socket, principal);
    });
  }

  private open(ws: WebSocket, socket: Socket, principal: Principal): void {
    const session = new WsSession(ws, socket, principal, this.ctx);
    this.sessions.add(session);
    ws.on('message', (data: Buffer, isBinary) => session.onMessage(data, isBinary));
    ws.on('pong', () => (session.unansweredPings = 0));
    ws.on('error', (err) => this.ctx.logger.debug({ err, sub: session.subject }, 'WebSocket error'));
    const disarm = armTokenExpiry(principal, this.ctx.clock, () => session.close(CloseCode.unauthorized, 'token expired'));
    if (this.closing) session.close(CloseCode.goingAway, 'hub shutting down');
    this.ctx.logger.debug({ sub: session.subject }, 'WebSocket opened');
    ws.on('close', (code) => {
      disarm();
      session.closed();
      this.sessions.delete(session);
      this.ctx.logger.debug({ sub: session.subject, code }, 'WebSocket closed');
    });
  }

  /** Pings every peer; one that left two pings unanswered is gone (half-open TCP). */
  private sweep(): void {
    for (const session of this.sessions) session.keepalive();
  }

  /**
   * Refuses new connections and new publishes, lets in-flight publishes get their `ack`, then
   * closes every WebSocket with 1001 and waits (at most the close grace) for them to go.
   */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.keepalive);
    await Promise.all([...this.sessions].map((s) => s.drain()));
    const gone = [...this.sessions].map((s) => s.whenClosed());
    for (const session of this.sessions) session.close(CloseCode.goingAway, 'hub shutting down');
    await Promise.all(gone);
  }
}

function refuse(socket: Socket, code: 'not_found' | 'forbidden' | 'shutting_down' | 'overloaded', message: string): void {
  const retryable = code === 'shutting_down' || code === 'overloaded';
  endWithError(socket, new HubError(code, { message, retryAfterS: retryable ? 1 : undefined }));
}
