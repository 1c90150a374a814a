/**
 * Load generator for bench/resume.ts, in its own process: subscribes with a cursor that is
 * N events behind and times the replay until the N-th event arrived. Counts frames without
 * parsing them (the client's cost is not what is measured); checks the last one.
 *
 * argv: <ws url> <cursor> <expected events> <last event id>
 */
import WebSocket from 'ws';

const [url, cursor, n, lastId] = process.argv.slice(2) as [string, string, string, string];
const expected = Number(n);
const ws = new WebSocket(url, { headers: { authorization: `Bearer ${process.env.PUSHHUB_API_KEY!}` } });
await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
let events = -1; // the first frame is `subscribed`
let started = 0;
const elapsedMs = await new Promise<number>((resolve) => {
  ws.on('message', (data: Buffer) => {
    if (++events < expected) return;
    const text = data.toString();
    if (!text.includes(lastId)) throw new Error(`the last event is not ${lastId}: ${text.slice(0, 200)}`);
    resolve(performance.now() - started);
  });
  started = performance.now();
  ws.send(JSON.stringify({ op: 'subscribe', channel: 'resume', cursor, id: 1 }));
});
ws.terminate();
process.stdout.write(`${JSON.stringify({ events, ms: elapsedMs })}\n`);
process.exit(0);
