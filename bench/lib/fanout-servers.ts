/**
 * The servers of the fan-out benchmarks (bench/fanout.ts, bench/curve.ts), started in the
 * benchmark's process while the load generator (bench/lib/fanout-load.ts) has its own: the
 * hub, a bare `ws` broadcast server and a Socket.IO 4 server with connection-state recovery
 * on. The last two take `POST /publish` with the body the hub's `POST /v1/events` takes and
 * send every subscriber the same envelope the hub sends (same fields, same sizes), with no
 * storage.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { Server as SocketIoServer } from 'socket.io';
import { WebSocketServer } from 'ws';
import { log, quick, runChild, startHubProcess } from './common.js';
import { envelope, type PublishBody } from './envelope.js';
import type { LoadConfig, LoadResult } from './fanout-load.js';

export const SUBSCRIBERS = quick ? 200 : 1000;

export interface PeerServer {
  url: string;
  /** Several hubs on one log (bench/cluster.ts): the subscribers and the publishes go to each in turn. */
  urls?: string[];
  close(): Promise<void>;
}

function readJson(req: IncomingMessage, then: (body: PublishBody) => void): void {
  let body = '';
  req.on('data', (d: Buffer) => (body += d.toString()));
  req.on('end', () => then(JSON.parse(body) as PublishBody));
}

/** An HTTP server whose `POST /publish` hands each event's envelope to `broadcast`, on 127.0.0.1. */
async function listen(broadcast: (event: ReturnType<typeof envelope>) => void): Promise<{ server: Server; url: string }> {
  let seq = 0;
  const server = createServer((req, res) => {
    readJson(req, (input) => {
      const event = envelope(input, ++seq);
      broadcast(event);
      res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ id: event.id }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
}

const closeServer = (server: Server): Promise<void> => new Promise((resolve) => server.close(() => resolve()));

/** A bare ws server: each event as the hub's `event` frame, serialised once, sent to every socket. */
export async function startBareWs(): Promise<PeerServer> {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const { server, url } = await listen((event) => {
    const frame = JSON.stringify({ op: 'event', event });
    for (const client of wss.clients) client.send(frame);
  });
  server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws)));
  return {
    url,
    async close() {
      for (const c of wss.clients) c.terminate();
      await closeServer(server);
    },
  };
}

/**
 * Socket.IO as its users run it for this job: connection-state recovery on (every broadcast
 * gets an offset and is kept for resuming clients), subscribers join a room (the channel) with
 * an acknowledged `subscribe`, each event is `io.to(channel).emit('event', envelope)`.
 */
export async function startSocketIo(): Promise<PeerServer> {
  const { server, url } = await listen((event) => io.to(event.channel).emit('event', event));
  const io = new SocketIoServer(server, { connectionStateRecovery: {}, transports: ['websocket'], serveClient: false });
  io.on('connection', (socket) => {
    socket.on('subscribe', (channel: string, ack: () => void) => {
      void socket.join(channel);
      ack();
    });
  });
  return {
    url,
    async close() {
      io.disconnectSockets(true);
      await io.close();
    },
  };
}

/** Room on a hub for every subscriber. */
export const FANOUT_HUB_CONFIG = { realtime: { maxConnections: SUBSCRIBERS + 100 } };

/** The compiled hub with durable defaults, in a child process (as `npm start` runs it), with room for the subscribers. */
export async function startHubForFanout(config: Record<string, unknown> = {}): Promise<PeerServer> {
  const hub = await startHubProcess({ ...FANOUT_HUB_CONFIG, ...config, realtime: { ...FANOUT_HUB_CONFIG.realtime, ...(config.realtime as object | undefined) } });
  return { url: hub.url, close: () => hub.stop() };
}

/** Runs the load generator (its own process) against a server started here, then stops the server. */
export async function fanoutLoad(
  name: string,
  server: PeerServer,
  mode: LoadConfig['mode'],
  load: Pick<LoadConfig, 'rates' | 'stepSeconds' | 'saturationSeconds' | 'saturationFirst' | 'publishers' | 'receivers'>,
): Promise<LoadResult> {
  log(name);
  try {
    const publishPath = mode === 'hub' ? '/v1/events' : mode === 'nchan' ? '/pub?id=fanout' : '/publish';
    const config: LoadConfig = { mode, bases: server.urls ?? [server.url], publishPath, subscribers: SUBSCRIBERS, ...load };
    const result = await runChild<LoadResult>('fanout-load.ts', [JSON.stringify(config)]);
    log(name, JSON.stringify(result));
    return result;
  } finally {
    await server.close();
  }
}
