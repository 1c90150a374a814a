import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startChildHub } from '../helpers/child-hub.js';
import { startHub } from '../helpers/hub.js';
import { rawExchange } from '../helpers/raw-http.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { runCli } from '../helpers/keys.js';
import { handMadeJwt } from '../helpers/tokens.js';
import { FAST_RETRY, waitFor } from '../helpers/webhooks.js';
import { TestSocket } from '../helpers/ws-client.js';

/**
 * Secrets never reach the logs. One scenario touches every secret the hub knows or hands
 * out — the API key in headers, tokens in `Authorization` and `?token=` (WebSocket, SSE,
 * polling; accepted and refused), webhook secrets at creation and rotation, the signatures
 * the hub sends to a real receiver, the token secret, API keys (made, used, listed, revoked,
 * through the routes and the CLI) — with the hub logging at `trace`
 * (everything `debug` logs and more). It runs in process (every line the logger wrote) and
 * as the real CLI in a child process with generated secrets (everything on stdout and
 * stderr). Then no secret, nor its base64 body, may appear anywhere in that text.
 */

interface Target {
  url: string;
  apiKey: string;
  tokenSecret: string;
}

/** Name → value of every secret the scenario saw; the logs must contain none of them. */
type Secrets = Map<string, string>;

const receivers: Receiver[] = [];
afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
});

function addSecret(secrets: Secrets, name: string, value: string): void {
  secrets.set(name, value);
  if (value.startsWith('whsec_')) secrets.set(`${name} (base64 body)`, value.slice('whsec_'.length));
  const parts = value.split('.');
  if (parts.length === 3 && parts[2]) secrets.set(`${name} (signature)`, parts[2]);
}

/** A key and its usual encodings, in case anything logged it as bytes. */
function addKey(secrets: Secrets, name: string, value: string): void {
  secrets.set(name, value);
  const bytes = Buffer.from(value);
  secrets.set(`${name} (base64)`, bytes.toString('base64').replace(/=+$/, ''));
  secrets.set(`${name} (base64url)`, bytes.toString('base64url'));
  secrets.set(`${name} (hex)`, bytes.toString('hex'));
}

async function exercise({ url, apiKey, tokenSecret }: Target): Promise<Secrets> {
  const secrets: Secrets = new Map();
  addKey(secrets, 'API key', apiKey);
  addKey(secrets, 'token secret', tokenSecret);
  const api = async <T>(path: string, body?: unknown, method = body === undefined ? 'GET' : 'POST'): Promise<T> => {
    const headers: Record<string, string> = { authorization: `Bearer ${apiKey}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (res.status >= 300) throw new Error(`${method} ${path} → ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };

  // Webhook secrets: at creation and at rotation. The first attempt fails, so retries are logged too.
  const receiver = await startReceiver((req) => ({ status: req.index === 0 ? 500 : 204 }));
  receivers.push(receiver);
  const subscribe = (signature_scheme: string) =>
    api<{ id: string; secret: string }>('/v1/subscriptions', { url: `${receiver.url}?token=receiver-side`, channels: ['secrets.>'], signature_scheme, retry: FAST_RETRY });
  const standard = await subscribe('standard');
  const stripe = await subscribe('stripe');
  addSecret(secrets, 'webhook secret (standard)', standard.secret);
  addSecret(secrets, 'webhook secret (stripe)', stripe.secret);
  const rotated = await api<{ secret: string }>(`/v1/subscriptions/${standard.id}/rotate-secret`, undefined, 'POST');
  addSecret(secrets, 'webhook secret (rotated)', rotated.secret);

  // Tokens: minted by the hub, made with the token secret, and refused ones.
  const minted = (await api<{ token: string }>('/v1/tokens', { channels: ['secrets.>'], publish: ['secrets.>'], sub: 'user-1' })).token;
  const handMade = handMadeJwt({ exp: Math.floor(Date.now() / 1000) + 600, channels: ['secrets.>'] }, tokenSecret);
  const refused = `${minted.slice(0, -4)}AAAA`;
  const expired = handMadeJwt({ exp: Math.floor(Date.now() / 1000) - 60, channels: ['secrets.>'] }, tokenSecret);
  addSecret(secrets, 'minted token', minted);
  addSecret(secrets, 'hand-made token', handMade);
  addSecret(secrets, 'refused token', refused);
  addSecret(secrets, 'expired token', expired);

  // API keys: made, used in every place a credential travels, listed, revoked, then refused.
  const madeKey = await api<{ id: string; key: string }>('/v1/keys', { name: 'logged?', scopes: ['publish', 'read'] });
  const revokedKey = await api<{ id: string; key: string }>('/v1/keys', { name: 'revoked', scopes: ['admin'] });
  addKey(secrets, 'API key made', madeKey.key);
  addKey(secrets, 'API key revoked', revokedKey.key);
  await api('/v1/keys');
  await fetch(`${url}/v1/keys/${revokedKey.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${revokedKey.key}` } });
  for (const key of [madeKey.key, revokedKey.key]) {
    await fetch(`${url}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'secrets.a', type: 'key', data: 1 }),
    });
    await fetch(`${url}/v1/subscriptions`, { headers: { authorization: `Bearer ${key}` } });
    await (await fetch(`${url}/v1/channels/secrets.a/events?token=${key}`)).body?.cancel();
  }

  // WebSocket: every credential, header and query, accepted and refused; `%74oken` is `token` percent-encoded.
  const wsUrl = `${url.replace(/^http/, 'ws')}/v1/ws`;
  for (const [suffix, headers, accepted] of [
    [`?token=${minted}`, {}, true],
    [`?%74oken=${minted}`, {}, true],
    [`?token=${apiKey}`, {}, true],
    [`?token=${madeKey.key}`, {}, true],
    ['', { authorization: `Bearer ${madeKey.key}` }, true],
    [`?token=${revokedKey.key}`, {}, false],
    ['', { authorization: `Bearer ${handMade}` }, true],
    [`?token=${refused}`, {}, false],
    [`?%74oken=${refused}`, {}, false],
    ['', { authorization: `Bearer ${expired}` }, false],
  ] as const) {
    const socket = new TestSocket(new WebSocket(wsUrl + suffix, { headers }));
    await once(socket.ws, 'open');
    if (accepted) {
      expect(await socket.request({ op: 'subscribe', channel: 'secrets.a' })).toMatchObject({ op: 'subscribed' });
      await socket.request({ op: 'publish', channel: 'secrets.a', type: 'ws', data: 1 });
      socket.close();
    }
    expect((await socket.closed).code).toBe(accepted ? 1005 : 4001);
  }

  // SSE and polling, with the credential in each place it may travel.
  for (const path of ['/v1/channels/secrets.a/sse', '/v1/channels/secrets.a/events']) {
    for (const init of [
      { query: `?token=${minted}` },
      { query: `?%74oken=${minted}` },
      { query: `?after=&token=${refused}` },
      { query: `?TOKEN=${apiKey}&token=${handMade}` },
      { query: '', headers: { authorization: `Bearer ${minted}` } },
      { query: '', headers: { authorization: `Bearer ${expired}` } },
    ]) {
      const res = await fetch(url + path + init.query, { headers: init.headers });
      await res.body?.cancel();
    }
  }

  // Signatures the hub sends to a real receiver (the first attempt fails and is retried).
  const sent = await api<{ id: string }>('/v1/events', { channel: 'secrets.a', type: 'http', data: { n: 1 } });
  await waitFor(async () => (await api<{ status: string }>(`/v1/events/${sent.id}`)).status === 'delivered', 10_000, 'delivered');
  for (const [i, r] of receiver.received.entries()) {
    const standardSig = r.headers['webhook-signature'];
    if (typeof standardSig === 'string') {
      for (const entry of standardSig.split(' ')) secrets.set(`webhook-signature ${i}`, entry.replace(/^v1,/, ''));
    }
    const stripeSig = r.headers['x-signature'];
    if (typeof stripeSig === 'string') {
      for (const part of stripeSig.split(',')) if (part.startsWith('v1=')) secrets.set(`x-signature ${i}`, part.slice(3));
    }
  }
  expect([...secrets.keys()].filter((k) => k.startsWith('webhook-signature')).length).toBeGreaterThan(0);
  expect([...secrets.keys()].filter((k) => k.startsWith('x-signature')).length).toBeGreaterThan(0);

  // Malformed HTTP carrying credentials: the parser's error (logged at trace) holds the raw bytes.
  await rawExchange(url, `GET /v1/events/x?token=${minted} HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer ${apiKey}\r\nBad Header\r\n\r\n`);
  await rawExchange(url, `POST /v1/events HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer ${apiKey}\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello`);
  return secrets;
}

/** Every secret found in the text, by name. */
function leaks(text: string, secrets: Secrets): string[] {
  return [...secrets].filter(([, value]) => value.length >= 8 && text.includes(value)).map(([name]) => name);
}

/**
 * Log lines as one searchable text. A Buffer serialised into a line (`{"type":"Buffer",
 * "data":[71,69,…]}`) is decoded first: its bytes are as readable as any string.
 */
function searchable(lines: unknown[]): string {
  const decodeBuffers = (_key: string, value: unknown): unknown => {
    const v = value as { type?: unknown; data?: unknown } | null;
    return v && v.type === 'Buffer' && Array.isArray(v.data) ? Buffer.from(v.data as number[]).toString('latin1') : value;
  };
  return lines.map((line) => JSON.stringify(line, decodeBuffers)).join('\n');
}

/** A child's output: each JSON line parsed (so its Buffers are decoded), other lines as they are. */
function parsedOutput(output: string): unknown[] {
  return output.split('\n').map((line) => {
    try {
      return JSON.parse(line) as unknown;
    } catch {
      return line;
    }
  });
}

describe('secrets never reach the logs', () => {
  it('in process, logging at trace', async () => {
    const hub = await startHub({ config: { logLevel: 'trace', allowPrivateUrls: true } });
    try {
      const secrets = await exercise({ url: hub.url, apiKey: hub.config.apiKey, tokenSecret: hub.config.tokenSecret });
      await hub.close();
      const text = searchable(hub.logs);
      // The scenario did reach the code that logs credentials' neighbours.
      const messages = new Set(hub.logs.map((l) => l.msg));
      for (const msg of ['request completed', 'API key created', 'API key revoked', 'WebSocket credential refused', 'subscription secret rotated', 'delivery retried', 'unparsable request refused']) {
        expect(messages, msg).toContain(msg);
      }
      expect(leaks(text, secrets)).toEqual([]);
    } finally {
      await hub.close();
    }
  });

  it('the CLI in a child process, with generated secrets, logging at trace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pushhub-secrets-'));
    try {
      const child = await startChildHub(join(dir, 'pushhub.db'), {
        PUSHHUB_API_KEY: '',
        PUSHHUB_TOKEN_SECRET: '',
        PUSHHUB_LOG_LEVEL: 'trace',
        PUSHHUB_ALLOW_PRIVATE_URLS: 'true',
      });
      const read = (name: string) => readFileSync(join(dir, name), 'utf8').trim();
      try {
        const secrets = await exercise({ url: child.url, apiKey: read('api-key'), tokenSecret: read('token-secret') });
        // The CLI: it prints the key it made (on its own stdout, once); the hub's output must not hold it.
        const env = { PUSHHUB_API_KEY: read('api-key') };
        const made = await runCli(['keys', 'create', '--name', 'from the CLI', '--scopes', 'publish', '--expires', '1h', '--url', child.url], env);
        expect(made.code, made.stderr).toBe(0);
        const [cliKey, cliInfo] = made.stdout.trim().split('\n');
        addKey(secrets, 'API key from the CLI', cliKey!);
        expect((await runCli(['keys', 'list', '--url', child.url], env)).code).toBe(0);
        const { id } = JSON.parse(cliInfo!) as { id: string };
        expect((await runCli(['keys', 'revoke', id, '--url', child.url], env)).code).toBe(0);
        expect(await child.stop()).toBe(0);
        const output = child.output();
        expect(output).toContain('generated api-key');
        expect(leaks(`${output}\n${searchable(parsedOutput(output))}`, secrets)).toEqual([]);
      } finally {
        await child.kill();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
