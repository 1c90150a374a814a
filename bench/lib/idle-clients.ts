/**
 * Load generator for bench/connections.ts, in its own process: opens N WebSockets with a
 * subscriber token, subscribes each to its own channel, prints {"connected":N} and then
 * stays idle until killed.
 *
 * argv: <ws url> <count> <token>
 */
import WebSocket from 'ws';

const [url, n, token] = process.argv.slice(2) as [string, string, string];
const count = Number(n);
const sockets: WebSocket[] = [];

function open(i: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}?token=${token}`);
    ws.once('error', reject);
    ws.once('open', () => ws.send(JSON.stringify({ op: 'subscribe', channel: `user.${i}`, id: 1 })));
    ws.once('message', () => resolve(ws));
  });
}

for (let i = 0; i < count; i += 250) {
  sockets.push(...(await Promise.all(Array.from({ length: Math.min(250, count - i) }, (_, k) => open(i + k)))));
}
process.stdout.write(`${JSON.stringify({ connected: sockets.length })}\n`);
process.on('SIGTERM', () => process.exit(0));
setInterval(() => {}, 1 << 30);
