// The far side of bench/webhooks, in its own process: a webhook receiver that answers 204
// at once, and, on request, a steady publisher. Publish time and arrival time are read from
// this one process's clock, so publish→delivered latency needs no clock agreement.
// Talks to the parent over IPC.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';

export type PeerRequest = { type: 'steady'; hubUrl: string; apiKey: string; channel: string; ratePerS: number; seconds: number };

export type PeerReply =
  | { type: 'ready'; url: string }
  | { type: 'latencies'; published: number; latenciesMs: number[] };

const now = (): number => performance.timeOrigin + performance.now();
const send = (msg: PeerReply): void => void process.send!(msg);

/** Publish→arrival of each steady-phase event (those carrying their publish time `t`). */
const latenciesMs: number[] = [];

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const t = /"data":\{"t":([0-9.]+)\}/.exec(Buffer.concat(chunks).toString('utf8'));
    if (t) latenciesMs.push(now() - Number(t[1]));
    res.writeHead(204).end();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  send({ type: 'ready', url: `http://127.0.0.1:${port}/hook` });
});

/** Publishes one event at a time at `ratePerS`, each carrying its publish time, then waits for them all. */
async function steady(msg: PeerRequest): Promise<void> {
  const pool = new Pool(msg.hubUrl, { connections: 16 });
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${msg.apiKey}` };
  const total = Math.round(msg.ratePerS * msg.seconds);
  const start = now();
  let published = 0;
  const pending: Promise<void>[] = [];
  while (published < total) {
    // As many as the schedule says are due by now: a steady rate, whatever the timer slack.
    const due = Math.min(total, Math.floor(((now() - start) * msg.ratePerS) / 1000) + 1);
    for (; published < due; published++) {
      const body = JSON.stringify({ channel: msg.channel, type: 'bench.steady', data: { t: now() } });
      pending.push(
        pool.request({ path: '/v1/events', method: 'POST', headers, body }).then(async (res) => {
          await res.body.dump();
          if (res.statusCode !== 202) throw new Error(`publish answered ${res.statusCode}`);
        }),
      );
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(pending);
  const deadline = now() + 10_000;
  while (latenciesMs.length < total && now() < deadline) await new Promise((r) => setTimeout(r, 10));
  await pool.close();
  send({ type: 'latencies', published, latenciesMs: latenciesMs.splice(0) });
}

process.on('message', (msg: PeerRequest) => void steady(msg));
