import { readFileSync } from 'node:fs';
import { z } from 'zod';

const KiB = 1024;
const MiB = 1024 * KiB;
const DAY_MS = 24 * 60 * 60 * 1000;

/** Integers arrive as numbers from a config file and as digit strings from env and flags. */
function int(min: number, max = Number.MAX_SAFE_INTEGER) {
  return z
    .union([z.number(), z.string().regex(/^-?\d+$/, 'must be a whole number').transform(Number)])
    .pipe(z.number().int('must be a whole number').min(min).max(max));
}

const bool = z.union([
  z.boolean(),
  z.enum(['true', 'false', '1', '0'], 'must be true or false').transform((v) => v === 'true' || v === '1'),
]);

const retentionSchema = z.strictObject({
  eventsMs: int(60_000).default(7 * DAY_MS), // 7 days of events
  deliveriesMs: int(60_000).default(7 * DAY_MS), // terminal deliveries kept 7 days
  idempotencyMs: int(60_000).default(DAY_MS), // Idempotency-Key remembered 24 h
  intervalMs: int(100).default(60_000), // prune pass every minute
  batchSize: int(1, 100_000).default(1000), // rows per prune transaction: publishing never stalls
});

const realtimeSchema = z.strictObject({
  pingIntervalMs: int(100, 600_000).default(30_000), // 30 s; a peer missing two pongs is dropped
  sseHeartbeatMs: int(100, 600_000).default(15_000), // 15 s comment heartbeat on SSE streams
  sendBufferBytes: int(16 * KiB, 256 * MiB).default(MiB), // 1 MiB queued to one peer, then 4008
  writeDelayMs: int(0, 1000).default(2), // live deliveries to one peer gathered 2 ms, then one write; 0: write each batch at once
  writeMaxBytes: int(1024, 16 * MiB).default(64 * KiB), // ...or written at once when this much waits
  maxSubscriptionsPerConnection: int(1, 100_000).default(100),
  maxFrameBytes: int(1024, 16 * MiB).default(256 * KiB), // 256 KiB inbound frame, then 1009
  publishRatePerS: int(1, 1_000_000).default(100), // WS publishes per connection per second (burst: 1 s worth)
  maxConnections: int(1, 1_000_000).default(20_000), // WebSocket + SSE, then 503
  replayPageSize: int(1, 10_000).default(1000), // events read from the store per replay step
  maxHeldEvents: int(0, 1_000_000).default(10_000), // live events held during a replay, then re-read from the store
  closeGraceMs: int(0, 60_000).default(5_000), // 5 s for a closing peer to finish the handshake, then cut
  maxTokenTtlS: int(1, 366 * 24 * 3600).default(30 * 24 * 3600), // POST /v1/tokens ttl_s at most 30 days
  presenceGraceMs: int(0, 600_000).default(10_000), // 10 s: a member back within it neither leaves nor joins
  presenceCoalesceMs: int(0, 10_000).default(50), // join/leave of a channel gathered 50 ms, sent as the net change
  presenceMaxMembers: int(1, 1_000_000).default(10_000), // beyond it: count only, no join/leave frames
  occupancyEvents: bool.default(true), // channel.occupied / channel.vacated on $hub.channels
  presenceHeartbeatMs: int(100, 60_000).default(5_000), // 5 s: several hubs renew their presence rows, and sweep dead hubs' rows
  presenceExpiryMs: int(200, 600_000).default(20_000), // 20 s unrenewed: a hub's members leave (dead hub: within expiry + heartbeat, < 30 s)
}).refine((r) => r.presenceExpiryMs > 2 * r.presenceHeartbeatMs, {
  path: ['presenceExpiryMs'],
  message: 'must be more than twice realtime.presenceHeartbeatMs (one late heartbeat must not expire a live hub)',
});

/**
 * `*`, or origins separated by commas (`https://app.example.com,http://localhost:3000`):
 * each exactly an origin (scheme, host, port; no path), as browsers send it in `Origin`.
 */
const corsOriginsSchema = z.union([
  z.array(z.string()),
  z.string().transform((v) => v.split(',').map((o) => o.trim()).filter(Boolean)),
]).pipe(
  z
    .array(
      z.string().refine(
        (o) => o === '*' || URL.canParse(o) && new URL(o).origin === o,
        'must be * or origins like https://app.example.com (scheme, host and port only, no path)',
      ),
    )
    .min(1, 'must name at least one origin, or *')
    .refine((list) => !list.includes('*') || list.length === 1, 'must be * alone or a list of origins'),
);

/** PUSHHUB_DB names a PostgreSQL database (`postgres://…`, `postgresql://…`), not a SQLite file. */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

/** The database for logs and messages: a URL (PostgreSQL's, or any other given by mistake) without its password. */
export function describeDb(db: string): string {
  if (!URL.canParse(db)) return db;
  const url = new URL(db);
  if (!url.password) return db;
  url.password = 'REDACTED';
  return url.toString();
}

/**
 * A SQLite file path, or a PostgreSQL URL. Any other URL is refused rather than taken as a
 * file name (`mysql://…` would otherwise create a folder called `mysql:`).
 */
const dbSchema = z
  .string()
  .min(1)
  .superRefine((value, ctx) => {
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[1]?.toLowerCase();
    if (scheme === 'postgres' || scheme === 'postgresql') {
      if (!URL.canParse(value)) ctx.addIssue({ code: 'custom', message: 'is not a valid postgres:// URL' });
    } else if (scheme !== undefined) {
      ctx.addIssue({ code: 'custom', message: `must be a SQLite file path or a postgres:// URL, not a ${scheme}:// URL` });
    }
  });

/** Used when PUSHHUB_DB is a PostgreSQL URL. */
const postgresSchema = z.strictObject({
  poolSize: int(1, 1000).default(10), // connections per hub
  statementTimeoutMs: int(100, 600_000).default(5_000), // 5 s per statement, then cancelled and 503
  connectTimeoutMs: int(100, 600_000).default(5_000), // 5 s to get a connection (server down, pool busy), then 503
  pollMs: int(50, 60_000).default(1_000), // the head read this often even without a notification (a safety net)
  heartbeatMs: int(100, 60_000).default(5_000), // the listening connection checked this often, replaced when it does not answer
});

/** The hub's default retry policy (docs/protocol.md); a subscription's `retry` overrides any field. */
const webhookRetrySchema = z.strictObject({
  initialDelayMs: int(0, DAY_MS).default(2_000), // first retry within 2 s (full jitter)
  factor: z.number().min(1).max(10).default(2), // each ceiling twice the previous
  maxDelayMs: int(0, 7 * DAY_MS).default(600_000), // ceilings stop at 10 min
  maxAttempts: int(0, 1_000_000).default(10), // then dead; 0 = no limit
  maxAgeS: int(0, 365 * 86_400).default(86_400), // no retry later than 24 h after the first attempt; 0 = no limit
  timeoutMs: int(100, 300_000).default(10_000), // 10 s per attempt, response body included
});

const webhooksSchema = z.strictObject({
  retry: webhookRetrySchema.prefault({}),
  maxInFlight: int(1, 100_000).default(512), // attempts under way at once, all subscriptions together
  connectionsPerOrigin: int(1, 10_000).default(128), // keep-alive sockets per receiver origin
  claimBatch: int(1, 10_000).default(500), // deliveries claimed per subscription per pass
  responseBodyBytes: int(0, 65_536).default(1024), // first 1 KiB of each response kept with the attempt
  previousSecretTtlMs: int(0, 30 * DAY_MS).default(DAY_MS), // a rotated-out secret signs 24 h more
  pauseWindowMs: int(1000, DAY_MS).default(3_600_000), // auto-pause looks at the last hour
  pauseMinAttempts: int(1, 1_000_000).default(20), // ...of at least 20 attempts
  pauseFailureRatio: z.number().gt(0).max(1).default(0.95), // ...of which 95 % failed
  leaseMs: int(1000, 600_000).default(15_000), // several hubs: a dead hub's subscriptions are taken over within this
  replayBatch: int(1, 10_000).default(200), // log positions per replay batch (one short transaction each)
  replayPauseMs: int(0, 60_000).default(20), // between replay batches: publishing gets the store in between
});

/** The whole configuration: one strict schema, parsed once at start, then frozen. */
export const configSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: int(0, 65535).default(8080),
  db: dbSchema.default('data/pushhub.db'),
  /** Server API key; generated into `<db dir>/api-key` when unset. */
  apiKey: z.string().min(16, 'must be at least 16 characters').optional(),
  /** HS256 secret for subscriber tokens; generated into `<db dir>/token-secret` when unset. */
  tokenSecret: z.string().min(32, 'must be at least 32 characters').optional(),
  allowPrivateUrls: bool.default(false),
  /** Origins whose browser pages may use the subscriber surface (SSE, polling, WebSocket): `*`, or a list. */
  corsOrigins: corsOriginsSchema.default(['*']),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** FULL: every acknowledged event survives power loss. NORMAL: survives a process crash only. */
  synchronous: z.enum(['FULL', 'NORMAL']).default('FULL'),
  busyTimeoutMs: int(0, 10_000).default(100), // wait this long for a lock, then 503
  bodyLimitBytes: int(1024, 64 * MiB).default(256 * 1024), // 256 KiB per request
  batchBodyLimitBytes: int(1024, 256 * MiB).default(8 * MiB), // 8 MiB for POST /v1/events/batch
  maxPendingEvents: int(1, 10_000_000).default(50_000), // queued for the next commit, then 503
  shutdownGraceMs: int(0, 600_000).default(10_000), // 10 s for in-flight work on SIGTERM
  keyUsageFlushMs: int(100, 3_600_000).default(10_000), // API keys' last_used_at written every 10 s (each key at most once a minute)
  retention: retentionSchema.prefault({}),
  realtime: realtimeSchema.prefault({}),
  webhooks: webhooksSchema.prefault({}),
  postgres: postgresSchema.prefault({}),
});

export type RealtimeConfig = z.output<typeof realtimeSchema>;
export type ParsedConfig = z.output<typeof configSchema>;
/** Configuration after start-up resolved the generated secrets. */
export type Config = Readonly<ParsedConfig & { apiKey: string; tokenSecret: string }>;

/** Where each environment variable and CLI flag lands in the schema. */
const ENV: Record<string, string> = {
  PUSHHUB_HOST: 'host',
  PUSHHUB_PORT: 'port',
  PUSHHUB_DB: 'db',
  PUSHHUB_API_KEY: 'apiKey',
  PUSHHUB_TOKEN_SECRET: 'tokenSecret',
  PUSHHUB_ALLOW_PRIVATE_URLS: 'allowPrivateUrls',
  PUSHHUB_LOG_LEVEL: 'logLevel',
  PUSHHUB_CORS_ORIGINS: 'corsOrigins',
  PUSHHUB_SYNCHRONOUS: 'synchronous',
  PUSHHUB_BODY_LIMIT_BYTES: 'bodyLimitBytes',
  PUSHHUB_WRITE_DELAY_MS: 'realtime.writeDelayMs',
  PUSHHUB_RETENTION_EVENTS_MS: 'retention.eventsMs',
  PUSHHUB_WEBHOOKS_TIMEOUT_MS: 'webhooks.retry.timeoutMs',
  PUSHHUB_WEBHOOKS_MAX_ATTEMPTS: 'webhooks.retry.maxAttempts',
  PUSHHUB_WEBHOOKS_MAX_IN_FLIGHT: 'webhooks.maxInFlight',
  PUSHHUB_WEBHOOKS_LEASE_MS: 'webhooks.leaseMs',
};

export const FLAGS: Record<string, string> = {
  '--host': 'host',
  '--port': 'port',
  '--db': 'db',
  '--log-level': 'logLevel',
  '--synchronous': 'synchronous',
  '--allow-private-urls': 'allowPrivateUrls',
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

interface Sources {
  env?: Record<string, string | undefined>;
  /** Flag name → value, e.g. `{ '--port': '0' }`. */
  flags?: Record<string, string>;
  /** Path of a JSON config file (also from PUSHHUB_CONFIG). */
  file?: string;
}

/**
 * Builds the configuration from defaults < config file < environment < flags, validates it
 * once and freezes it. A wrong value throws a ConfigError naming the variable that set it.
 */
export function loadConfig({ env = {}, flags = {}, file }: Sources = {}): ParsedConfig {
  const raw: Record<string, unknown> = {};
  const origin = new Map<string, string>();
  const set = (path: string, value: unknown, from: string): void => {
    const keys = path.split('.');
    let node = raw;
    for (const k of keys.slice(0, -1)) node = (node[k] ??= {}) as Record<string, unknown>;
    node[keys.at(-1)!] = value;
    origin.set(path, from);
  };

  const filePath = file ?? env.PUSHHUB_CONFIG;
  if (filePath) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(filePath, 'utf8'));
    } catch (err) {
      throw new ConfigError(`Invalid configuration: cannot read config file ${filePath}: ${(err as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new ConfigError(`Invalid configuration: config file ${filePath} must hold a JSON object`);
    }
    Object.assign(raw, parsed);
  }
  for (const [name, path] of Object.entries(ENV)) {
    const value = env[name];
    if (value !== undefined && value !== '') set(path, value, name);
  }
  for (const [flag, value] of Object.entries(flags)) {
    const path = FLAGS[flag];
    if (!path) throw new ConfigError(`Invalid configuration: unknown flag ${flag}`);
    set(path, value, flag);
  }

  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const path = issue.path.join('.');
      const key = issue.code === 'unrecognized_keys' ? [path, ...issue.keys].filter(Boolean).join('.') : path;
      // An issue inside a value (`corsOrigins.0`) is named by the variable that set the value.
      const source = [...origin.keys()].find((k) => key === k || key.startsWith(`${k}.`));
      const name = source ? origin.get(source)! : filePath ? `${key} (in ${filePath})` : key;
      return `${name}: ${issue.message}`;
    });
    throw new ConfigError(`Invalid configuration: ${lines.join('; ')}`);
  }
  return deepFreeze(result.data);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
