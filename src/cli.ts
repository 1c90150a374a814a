#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { buildApp } from './app.js';
import { connect } from './client/index.js';
import { systemClock, systemRandom } from './clock.js';
import { ConfigError, describeDb, FLAGS, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { CopyError, copyDatabase } from './store/copy.js';
import { DatabaseInUseError } from './store/db.js';
import { mintInputSchema } from './auth/token-claims.js';
import { fieldIssues } from './domain/field-issues.js';
import { readSecret, resolveSecrets } from './secrets.js';
import { createTokenService } from './auth/tokens.js';

const USAGE = `pushhub — real-time push hub

Usage:
  pushhub serve [--host H] [--port N] [--db PATH] [--config FILE] [--log-level L] [--synchronous FULL|NORMAL]
                [--allow-private-urls]
      --allow-private-urls: let webhooks go to loopback/private/link-local addresses (receivers
      on this machine or its network); same as PUSHHUB_ALLOW_PRIVATE_URLS=true
  pushhub publish <channel> <type> <json-data> [--url URL] [--api-key KEY] [--db PATH] [--idempotency-key K]
  pushhub tail <channel> [--cursor C] [--url URL] [--token T | --api-key KEY] [--db PATH]
      prints each event of the channel as one JSON line, live (or after --cursor), resuming across drops;
      the hub's own channels too: pushhub tail '$hub.deliveries' (quoted: $ is the shell's)
  pushhub replay <subscription id> (--since 2h|30m|<ISO time> | --after CURSOR) [--until 1h|<ISO time>] [--no-wait]
                 [--url URL] [--api-key KEY] [--db PATH]
      replays retained events to a webhook subscription (those it has no delivery of yet), as a
      background task of the hub; prints the task, then its progress until it finishes (unless --no-wait)
  pushhub token --channels P[,P…] [--publish P[,P…]] [--sub ID] [--info JSON] [--ttl 3600|90s|15m|1h|7d] [--db PATH]
      mints a subscriber token with the token secret (PUSHHUB_TOKEN_SECRET or <db dir>/token-secret)
  pushhub keys create --name N --scopes S[,S…] [--expires 30d|12h|<ISO time>] [--url URL] [--api-key KEY] [--db PATH]
  pushhub keys list [--url URL] [--api-key KEY] [--db PATH]
  pushhub keys revoke <key id> [--url URL] [--api-key KEY] [--db PATH]
      API keys with scopes (publish, read, subscriptions, tokens, admin), through the running hub
      (with an admin key: the root key of the data folder by default). create prints the new key
      once, alone on the first line; the hub keeps only its hash
  pushhub copy --from PATH|URL --to PATH|URL
      copies a hub's database (a SQLite file or a postgres:// URL, either side) into a new or
      empty one, online (hubs may be running on the source: the copy is one snapshot): events at
      their positions (every cursor stays valid), subscriptions with their secrets, deliveries
      with their attempts, idempotency keys. The backup command, and the way from SQLite to
      PostgreSQL; the api-key and token-secret files are not copied

Configuration comes from PUSHHUB_* environment variables (see README); flags override them.`;

async function serve(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      db: { type: 'string' },
      config: { type: 'string' },
      'log-level': { type: 'string' },
      synchronous: { type: 'string' },
      'allow-private-urls': { type: 'boolean' },
    },
  });
  const flags: Record<string, string> = {};
  for (const flag of Object.keys(FLAGS)) {
    const value = values[flag.slice(2) as keyof typeof values];
    // loadConfig reads every source as text, as the environment gives it: `true` → 'true'.
    if (value !== undefined) flags[flag] = String(value);
  }
  const parsed = loadConfig({ env: process.env, flags, file: values.config });
  const logger = createLogger(parsed.logLevel);
  const config = resolveSecrets(parsed, systemRandom, (name, path) =>
    logger.info({ path }, `generated ${name}; it is kept in this file (mode 0600)`),
  );
  if (config.allowPrivateUrls) {
    // A guard is off: anyone holding the API key can make the hub POST to this machine,
    // its network or a cloud metadata address. Said once, where an operator looks.
    logger.warn('private URLs allowed: webhooks may go to loopback, private and link-local addresses (PUSHHUB_ALLOW_PRIVATE_URLS / --allow-private-urls)');
  }
  const app = await buildApp({ config, logger });

  // The handlers come before listening: a signal that arrives while the hub starts (or just
  // after it said "listening") stops it cleanly once it is up, instead of killing it.
  let started: Promise<unknown> = Promise.resolve();
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    started
      .catch(() => undefined)
      .then(() => app.close())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  started = app.listen();
  await started;
}

async function publish(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      'api-key': { type: 'string' },
      db: { type: 'string' },
      'idempotency-key': { type: 'string' },
    },
  });
  const [channel, type, json] = positionals;
  if (!channel || !type || json === undefined) throw new UsageError('publish needs <channel> <type> <json-data>');
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch {
    throw new UsageError(`<json-data> is not valid JSON: ${json}`);
  }
  const url = hubUrl(values.url);
  const apiKey = apiKeyOf(values['api-key'], values.db);
  const headers: Record<string, string> = { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` };
  if (values['idempotency-key']) headers['idempotency-key'] = values['idempotency-key'];
  const res = await fetch(new URL('/v1/events', url), {
    method: 'POST',
    headers,
    body: JSON.stringify({ channel, type, data }),
  });
  const text = await res.text();
  process.stdout.write(`${text}\n`);
  if (!res.ok) process.exitCode = 1;
}

/** The hub's base URL: --url, else PUSHHUB_HOST/PUSHHUB_PORT. */
function hubUrl(flag: string | undefined): string {
  const env = process.env;
  return flag ?? `http://${env.PUSHHUB_HOST ?? '127.0.0.1'}:${env.PUSHHUB_PORT ?? '8080'}`;
}

/** The API key: --api-key, else PUSHHUB_API_KEY, else the data folder's file. */
function apiKeyOf(flag: string | undefined, db: string | undefined): string {
  const env = process.env;
  const apiKey = flag ?? env.PUSHHUB_API_KEY ?? readSecret(db ?? env.PUSHHUB_DB ?? 'data/pushhub.db', 'api-key');
  if (!apiKey) throw new UsageError('no API key: pass --api-key, set PUSHHUB_API_KEY, or run where the data folder is');
  return apiKey;
}

/** Follows a channel through the client library: one JSON envelope per line on stdout. */
async function tail(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      cursor: { type: 'string' },
      url: { type: 'string' },
      token: { type: 'string' },
      'api-key': { type: 'string' },
      db: { type: 'string' },
    },
  });
  const [channel] = positionals;
  if (!channel) throw new UsageError('tail needs <channel>');
  const client = connect({ url: hubUrl(values.url), token: values.token ?? apiKeyOf(values['api-key'], values.db) });
  client.on('error', (err) => {
    console.error(`pushhub tail: ${err.code}: ${err.message}`);
    if (client.state === 'closed') process.exitCode = 1;
  });
  client.subscribe(channel, (event) => process.stdout.write(`${JSON.stringify(event)}\n`), {
    cursor: values.cursor,
    onSubscribed: ({ resumed, cursor }) => console.error(`pushhub tail: subscribed to ${channel} (resumed: ${resumed}, cursor: ${cursor})`),
    onGap: ({ reason, cursor }) => console.error(`pushhub tail: events were lost (${reason}); going on after ${cursor}`),
  });
  const stop = (): void => {
    client.close();
    process.exit(process.exitCode ?? 0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

/** `pushhub keys create|list|revoke`: the /v1/keys routes of the running hub, as `publish` uses /v1/events. */
async function keys(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      scopes: { type: 'string' },
      expires: { type: 'string' },
      url: { type: 'string' },
      'api-key': { type: 'string' },
      db: { type: 'string' },
    },
  });
  const [action, id] = positionals;
  const call = async (method: string, path: string, body?: unknown): Promise<Response> => {
    const headers: Record<string, string> = { authorization: `Bearer ${apiKeyOf(values['api-key'], values.db)}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    return fetch(new URL(path, hubUrl(values.url)), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  };
  const fail = async (res: Response): Promise<void> => {
    console.error(`pushhub keys ${action}: ${res.status} ${await res.text()}`);
    process.exitCode = 1;
  };
  switch (action) {
    case 'create': {
      if (!values.name || !values.scopes) throw new UsageError('keys create needs --name and --scopes (comma-separated)');
      const scopes = values.scopes.split(',').map((s) => s.trim()).filter(Boolean);
      const body = { name: values.name, scopes, ...(values.expires === undefined ? {} : { expires_at: expiresAt(values.expires) }) };
      const res = await call('POST', '/v1/keys', body);
      if (!res.ok) return fail(res);
      const { key, ...rest } = (await res.json()) as { key: string };
      // The key alone on the first line (for `| head -1`), then what the hub keeps of it.
      process.stdout.write(`${key}
${JSON.stringify(rest)}
`);
      console.error('pushhub keys create: the key is shown only now; store it where its user reads it.');
      return;
    }
    case 'list': {
      const res = await call('GET', '/v1/keys');
      if (!res.ok) return fail(res);
      for (const k of ((await res.json()) as { keys: unknown[] }).keys) process.stdout.write(`${JSON.stringify(k)}
`);
      return;
    }
    case 'revoke': {
      if (!id) throw new UsageError('keys revoke needs <key id>');
      const res = await call('DELETE', `/v1/keys/${encodeURIComponent(id)}`);
      if (!res.ok) return fail(res);
      process.stdout.write(`revoked ${id}
`);
      return;
    }
    default:
      throw new UsageError(`keys needs create, list or revoke${action ? `, not ${action}` : ''}`);
  }
}

/** `pushhub replay`: POST /v1/subscriptions/<id>/replay, then the task's progress until it is done. */
async function replay(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      since: { type: 'string' },
      after: { type: 'string' },
      until: { type: 'string' },
      'no-wait': { type: 'boolean' },
      url: { type: 'string' },
      'api-key': { type: 'string' },
      db: { type: 'string' },
    },
  });
  const [id] = positionals;
  if (!id || (values.since === undefined) === (values.after === undefined)) throw new UsageError('replay needs <subscription id> and either --since or --after');
  const base = hubUrl(values.url);
  const authorization = `Bearer ${apiKeyOf(values['api-key'], values.db)}`;
  const body = {
    ...(values.since === undefined ? { after: values.after } : { since: timeAgo(values.since, '--since') }),
    ...(values.until === undefined ? {} : { until: timeAgo(values.until, '--until') }),
  };
  const res = await fetch(new URL(`/v1/subscriptions/${encodeURIComponent(id)}/replay`, base), {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) {
    console.error(`pushhub replay: ${res.status} ${text}`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(`${text}\n`);
  if (values['no-wait']) return;
  const { status_url } = JSON.parse(text) as { status_url: string };
  for (;;) {
    const task = (await (await fetch(new URL(status_url, base), { headers: { authorization } })).json()) as { state: string; done: number; total: number };
    process.stdout.write(`${JSON.stringify(task)}\n`);
    if (task.state !== 'running') {
      if (task.state !== 'succeeded') process.exitCode = 1;
      return;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** A time as a duration before now (`2h`, `30m`, `90s`, `7d`) or an ISO time, as an ISO time. */
function timeAgo(value: string, flag: string): string {
  const ttl = TTL_RE.exec(value);
  if (ttl) return new Date(Date.now() - ttlSeconds(ttl) * 1000).toISOString();
  if (!Number.isNaN(Date.parse(value))) return new Date(value).toISOString();
  throw new UsageError(`${flag} must be a duration before now (2h, 30m, 90s, 7d) or an ISO time: ${value}`);
}

/** `--expires`: a duration from now (`30d`, `12h`, `90m`, `3600s`) or an ISO time, as an ISO time. */
function expiresAt(value: string): string {
  const ttl = TTL_RE.exec(value);
  if (ttl) return new Date(Date.now() + ttlSeconds(ttl) * 1000).toISOString();
  if (!Number.isNaN(Date.parse(value))) return new Date(value).toISOString();
  throw new UsageError(`--expires must be a duration (30d, 12h, 90m, 3600s) or an ISO time: ${value}`);
}

const ttlSeconds = (m: RegExpExecArray): number => Number(m[1]) * TTL_UNIT_S[(m[2] ?? 's') as keyof typeof TTL_UNIT_S];

/** Copies a database (the backup command); prints what it copied as one JSON line. */
async function copy(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { from: { type: 'string' }, to: { type: 'string' } } });
  if (!values.from || !values.to) throw new UsageError('copy needs --from PATH|URL and --to PATH|URL');
  const summary = await copyDatabase(values.from, values.to);
  process.stdout.write(`${JSON.stringify({ copied: { from: describeDb(values.from), to: describeDb(values.to), ...summary } })}\n`);
}

const TTL_RE = /^(\d+)(s|m|h|d)?$/;
const TTL_UNIT_S = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/** Mints a subscriber token locally with the token secret; prints it alone on stdout. */
async function token(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      channels: { type: 'string' },
      publish: { type: 'string' },
      sub: { type: 'string' },
      info: { type: 'string' },
      ttl: { type: 'string', default: '3600' },
      db: { type: 'string' },
    },
  });
  if (values.channels === undefined) throw new UsageError('token needs --channels (comma-separated patterns; "" for none)');
  const ttl = TTL_RE.exec(values.ttl);
  if (!ttl) throw new UsageError(`--ttl must be seconds or a number with s, m, h or d: ${values.ttl}`);
  const list = (v: string): string[] => v.split(',').map((p) => p.trim()).filter(Boolean);
  let info: unknown;
  if (values.info !== undefined) {
    try {
      info = JSON.parse(values.info);
    } catch {
      throw new UsageError(`--info is not valid JSON: ${values.info}`);
    }
  }
  const parsed = mintInputSchema(Number.MAX_SAFE_INTEGER).safeParse({
    channels: list(values.channels),
    publish: values.publish === undefined ? undefined : list(values.publish),
    sub: values.sub,
    info,
    ttl_s: ttlSeconds(ttl),
  });
  if (!parsed.success) {
    throw new UsageError(fieldIssues(parsed.error).map((i) => `${i.field}: ${i.message}`).join('; '));
  }
  const env = process.env;
  const secret = env.PUSHHUB_TOKEN_SECRET ?? readSecret(values.db ?? env.PUSHHUB_DB ?? 'data/pushhub.db', 'token-secret');
  if (!secret) throw new UsageError('no token secret: set PUSHHUB_TOKEN_SECRET, or run where the data folder is');
  const minted = await createTokenService(secret, systemClock).mint(parsed.data);
  process.stdout.write(`${minted.token}\n`);
}

class UsageError extends Error {}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        return await serve(rest);
      case 'publish':
        return await publish(rest);
      case 'tail':
        return await tail(rest);
      case 'token':
        return await token(rest);
      case 'copy':
        return await copy(rest);
      case 'keys':
        return await keys(rest);
      case 'replay':
        return await replay(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(`${USAGE}\n`);
        return;
      default:
        throw new UsageError(`unknown command ${command}`);
    }
  } catch (err) {
    if (err instanceof DatabaseInUseError || err instanceof CopyError) {
      console.error(`pushhub: ${err.message}`);
      process.exit(1);
    }
    if (err instanceof ConfigError || err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`pushhub: ${(err as Error).message}`);
      if (err instanceof UsageError) console.error(USAGE);
      process.exit(2);
    }
    throw err;
  }
}

void main(process.argv.slice(2));
