#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { buildApp } from './app.js';
import { systemRandom } from './clock.js';
import { ConfigError, FLAGS, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { readSecret, resolveSecrets } from './secrets.js';

const USAGE = `pushhub — real-time push hub

Usage:
  pushhub serve [--host H] [--port N] [--db PATH] [--config FILE] [--log-level L] [--synchronous FULL|NORMAL]
  pushhub publish <channel> <type> <json-data> [--url URL] [--api-key KEY] [--db PATH] [--idempotency-key K]

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
    },
  });
  const flags: Record<string, string> = {};
  for (const flag of Object.keys(FLAGS)) {
    const value = values[flag.slice(2) as keyof typeof values];
    if (value !== undefined) flags[flag] = value;
  }
  const parsed = loadConfig({ env: process.env, flags, file: values.config });
  const logger = createLogger(parsed.logLevel);
  const config = resolveSecrets(parsed, systemRandom, (name, path) =>
    logger.info({ path }, `generated ${name}; it is kept in this file (mode 0600)`),
  );
  const app = buildApp({ config, logger });
  await app.listen();

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
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
  const env = process.env;
  const url = values.url ?? `http://${env.PUSHHUB_HOST ?? '127.0.0.1'}:${env.PUSHHUB_PORT ?? '8080'}`;
  const apiKey = values['api-key'] ?? env.PUSHHUB_API_KEY ?? readSecret(values.db ?? env.PUSHHUB_DB ?? 'data/pushhub.db', 'api-key');
  if (!apiKey) throw new UsageError('no API key: pass --api-key, set PUSHHUB_API_KEY, or run where the data folder is');
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

class UsageError extends Error {}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        return await serve(rest);
      case 'publish':
        return await publish(rest);
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
    if (err instanceof ConfigError || err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`pushhub: ${(err as Error).message}`);
      if (err instanceof UsageError) console.error(USAGE);
      process.exit(2);
    }
    throw err;
  }
}

void main(process.argv.slice(2));
