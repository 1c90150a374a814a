// A webhook receiver for pushhub in plain JavaScript: node:http and the `standardwebhooks`
// package, nothing else.
//
//   WEBHOOK_SECRET=whsec_… PORT=3000 node examples/receiver.mjs
//
// WEBHOOK_SECRET is the `secret` returned once by `POST /v1/subscriptions`. Each verified
// event is printed as one JSON line on stdout; everything else goes to stderr. The hub
// refuses a receiver on this machine unless it runs with PUSHHUB_ALLOW_PRIVATE_URLS=true
// (or `pushhub serve --allow-private-urls`).
import { createServer } from 'node:http';
import { Webhook } from 'standardwebhooks';

const secret = process.env.WEBHOOK_SECRET;
if (!secret) {
  console.error('receiver: set WEBHOOK_SECRET to the whsec_… secret of the subscription (POST /v1/subscriptions returns it once)');
  process.exit(2);
}
let webhook;
try {
  webhook = new Webhook(secret);
} catch (err) {
  console.error(`receiver: WEBHOOK_SECRET is not a valid whsec_… secret: ${err.message}`);
  process.exit(2);
}
const port = Number(process.env.PORT ?? 3000);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`receiver: PORT must be a port number, not ${process.env.PORT}`);
  process.exit(2);
}

// The hub delivers at least once: after a timeout or a restart the same event can come
// again, with the same webhook-id. This bounded set forgets the oldest ids; a real receiver
// records the ids it has processed in its own database, in the transaction that acts on
// the event, so a duplicate is recognised across restarts too.
const SEEN_MAX = 10_000;
const seen = new Set();
function firstTime(id) {
  if (seen.has(id)) return false;
  seen.add(id);
  if (seen.size > SEEN_MAX) seen.delete(seen.values().next().value);
  return true;
}

const MAX_BODY_BYTES = 5 * 1024 * 1024;

const server = createServer((req, res) => {
  if (req.method !== 'POST') {
    res.writeHead(405, { allow: 'POST' }).end();
    return;
  }
  const chunks = [];
  let size = 0;
  req.on('data', (chunk) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      res.writeHead(413, { connection: 'close' }).end();
      req.destroy();
    } else chunks.push(chunk);
  });
  req.on('end', () => {
    // The signature covers the exact bytes sent: verify the raw body, before any parsing.
    const raw = Buffer.concat(chunks).toString('utf8');
    let event;
    try {
      event = webhook.verify(raw, req.headers);
    } catch (err) {
      console.error(`receiver: refused a request: ${err.message}`);
      res.writeHead(400, { 'content-type': 'text/plain' }).end('invalid signature\n');
      return;
    }
    // A duplicate is answered 2xx too, or the hub would retry it.
    if (firstTime(req.headers['webhook-id'])) process.stdout.write(`${JSON.stringify(event)}\n`);
    res.writeHead(204).end();
  });
});

server.listen(port, '127.0.0.1', () => {
  console.error(`receiver: listening on http://127.0.0.1:${server.address().port}/`);
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
