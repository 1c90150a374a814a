/**
 * HTTP load for the publish latency curve (bench/curve.ts): `POST /v1/events` over a fixed
 * set of keep-alive connections, one request in flight on each, either open loop (requests
 * fall due on a fixed schedule whatever the answers do, and wait for a free connection) or
 * closed loop (each connection sends its next request as soon as the previous one is
 * answered: the saturated point, like bench/publish.ts's autocannon run).
 *
 * Why not autocannon's `overallRate`: it lets each connection send its quota for the second
 * back to back at the start of every second, then idle, so every step sees bursts as deep as
 * the connection count and measures about the saturated latency. Why not undici: its
 * per-request cost bounds it at about half of autocannon's rate on this machine, so the load
 * generator, not the server, would set the curve's end. This client writes one prebuilt
 * request and reads only the status line and Content-Length of each answer.
 *
 * Latency counts from the time a request fell due, not the time it left, so a server that
 * falls behind is charged for the queue it causes (no coordinated omission).
 */
import { connect, type Socket } from 'node:net';
import { API_KEY, log, percentile } from './common.js';
import { cpuMeter, undisturbed, type CpuShares } from './cpu.js';

export interface PublishPoint extends CpuShares {
  /** Requests/s asked for; null for the closed-loop (saturated) point. */
  offered_per_s: number | null;
  achieved_per_s: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
}

export const CONNECTIONS = 50;
const BODY = JSON.stringify({ channel: 'bench.orders', type: 'order.created', data: { order_id: 1234, amount: 99.5, currency: 'EUR' } });
const now = (): number => performance.now();

interface Connection {
  socket: Socket;
  /** When the request in flight fell due. */
  due: number;
  buffered: string;
}

export class PublishLoad {
  private readonly request: Buffer;
  private readonly idle: Connection[] = [];
  /** Due times of requests waiting for a connection (FIFO: `queue[head..]`). */
  private queue: number[] = [];
  private head = 0;
  private outstanding = 0;
  private latencies: number[] = [];
  private errors = 0;
  /** Closed loop: answered connections send again until this time. */
  private refillUntil = 0;
  private drained: (() => void) | undefined;

  private constructor(
    private readonly url: URL,
    private readonly serverPid: number | undefined,
  ) {
    this.request = Buffer.from(
      `POST ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\n` +
        `Authorization: Bearer ${API_KEY}\r\nContent-Length: ${Buffer.byteLength(BODY)}\r\n\r\n${BODY}`,
    );
  }

  /** Connects to the publish URL `url` (a hub's is <base>/v1/events); its process id, where known, lets CPU shares count it. */
  static async open(url: string, serverPid?: number): Promise<PublishLoad> {
    const load = new PublishLoad(new URL(url), serverPid);
    await Promise.all(Array.from({ length: CONNECTIONS }, () => load.connect()));
    return load;
  }

  private connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: this.url.hostname, port: Number(this.url.port), noDelay: true });
      const conn: Connection = { socket, due: 0, buffered: '' };
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => this.onData(conn, chunk));
      socket.once('error', reject);
      socket.once('connect', () => {
        this.idle.push(conn);
        resolve();
      });
    });
  }

  /** Reads whole answers off the connection; each one frees it for the next request. */
  private onData(conn: Connection, chunk: string): void {
    conn.buffered += chunk;
    for (;;) {
      const headEnd = conn.buffered.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const length = /\r\ncontent-length: *(\d+)/i.exec(conn.buffered.slice(0, headEnd));
      if (!length) throw new Error(`answer without Content-Length: ${conn.buffered.slice(0, headEnd)}`);
      const end = headEnd + 4 + Number(length[1]);
      if (conn.buffered.length < end) return;
      if (conn.buffered.startsWith('HTTP/1.1 202')) this.latencies.push(now() - conn.due);
      else this.errors++;
      conn.buffered = conn.buffered.slice(end);
      this.outstanding--;
      this.next(conn);
    }
  }

  private next(conn: Connection): void {
    if (this.head < this.queue.length) return this.fire(conn, this.queue[this.head++]!);
    if (now() < this.refillUntil) return this.fire(conn, now());
    this.idle.push(conn);
    if (this.outstanding === 0) this.drained?.();
  }

  private fire(conn: Connection, due: number): void {
    this.outstanding++;
    conn.due = due;
    conn.socket.write(this.request);
  }

  private submit(due: number): void {
    const conn = this.idle.pop();
    if (conn) this.fire(conn, due);
    else this.queue.push(due);
  }

  /** Runs the load and measures it, again if other processes disturbed it (bench/lib/cpu.ts). */
  private measure(offered: number | null, run: () => void | Promise<void>): Promise<PublishPoint> {
    return undisturbed(
      async () => {
        this.latencies = [];
        this.errors = 0;
        const cpu = cpuMeter(this.serverPid);
        const start = now();
        await run();
        if (this.outstanding > 0) await new Promise<void>((resolve) => (this.drained = resolve));
        this.drained = undefined;
        const answered = this.latencies.length + this.errors;
        this.queue = [];
        this.head = 0;
        return {
          offered_per_s: offered,
          achieved_per_s: Math.round(answered / ((now() - start) / 1000)),
          p50_ms: Number(percentile(this.latencies, 50).toFixed(2)),
          p99_ms: Number(percentile(this.latencies, 99).toFixed(2)),
          errors: this.errors,
          ...cpu(),
        };
      },
      this.serverPid,
      `publish ${offered === null ? 'saturated' : `${offered}/s`}`,
      log,
    );
  }

  /** Open loop: `rate` requests/s for `seconds`, the ith due at start + i / rate. */
  openLoop(rate: number, seconds: number): Promise<PublishPoint> {
    return this.measure(rate, async () => {
      const start = now();
      const count = Math.round(rate * seconds);
      for (let sent = 0; sent < count; ) {
        const due = Math.min(count, Math.floor(((now() - start) * rate) / 1000) + 1);
        for (; sent < due; sent++) this.submit(start + (sent * 1000) / rate);
        await new Promise((r) => setTimeout(r, 1));
      }
    });
  }

  /** Closed loop: every connection busy for `seconds`. */
  closedLoop(seconds: number): Promise<PublishPoint> {
    return this.measure(null, () => {
      this.refillUntil = now() + seconds * 1000;
      for (let conn = this.idle.pop(); conn; conn = this.idle.pop()) this.fire(conn, now());
    });
  }

  close(): void {
    for (const conn of this.idle) conn.socket.destroy();
  }
}
