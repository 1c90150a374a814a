import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the receiver got. */
export interface Received {
  headers: IncomingHttpHeaders;
  /** The raw body, exactly as sent (what signatures cover). */
  body: string;
  /** When it arrived (epoch ms). */
  at: number;
  /** 0-based index among everything this receiver got. */
  index: number;
}

/**
 * What to answer: a status (with headers/body), after an optional delay; hang until the hub
 * gives up; or a function that writes the answer itself (a reset, a body dribbled out…).
 */
export type Reply =
  | { status: number; headers?: Record<string, string>; body?: string; delayMs?: number }
  | 'hang'
  | ((res: ServerResponse) => void);

export type Script = (req: Received) => Reply;

export interface Receiver {
  url: string;
  received: Received[];
  /** Replaces the script (default: 200 to everything). */
  script(fn: Script): void;
  /** Resolves once `predicate(received)` holds; rejects after `timeoutMs`. */
  until(predicate: (received: Received[]) => boolean, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

/** Webhook ids (events) of what arrived, in arrival order. */
export const eventIds = (received: Received[]): string[] => received.map((r) => String(r.headers['webhook-id']));

/** A real HTTP receiver on 127.0.0.1, port 0, answering per request as the test scripts it. */
export async function startReceiver(script: Script = () => ({ status: 200 })): Promise<Receiver> {
  let current = script;
  const received: Received[] = [];
  const waiters = new Set<() => void>();
  const hanging = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const entry: Received = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now(), index: received.length };
      received.push(entry);
      for (const w of waiters) w();
      const reply = current(entry);
      if (reply === 'hang' || typeof reply === 'function') {
        // Held open (by us or by the script): close() cuts it.
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        if (typeof reply === 'function') reply(res);
        return;
      }
      const send = (): void => {
        res.writeHead(reply.status, reply.headers).end(reply.body ?? '');
      };
      if (reply.delayMs) setTimeout(send, reply.delayMs);
      else send();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    script: (fn) => void (current = fn),
    until(predicate, timeoutMs = 10_000) {
      if (predicate(received)) return Promise.resolve(received);
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (!predicate(received)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(received);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`receiver: condition not met in ${timeoutMs} ms (${received.length} requests received)`));
        }, timeoutMs);
        waiters.add(check);
      });
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A script that answers after `delayMs` (status from `statusOf`, 200 by default) and
 * records how many requests were open at once: `probe.max`.
 */
export function concurrencyProbe(delayMs: number, statusOf: (req: Received) => number = () => 200): Script & { max: number } {
  let open = 0;
  const probe = Object.assign(
    (req: Received): Reply => {
      open++;
      probe.max = Math.max(probe.max, open);
      setTimeout(() => open--, delayMs);
      return { status: statusOf(req), delayMs };
    },
    { max: 0 },
  );
  return probe;
}
