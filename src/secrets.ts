import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Random } from './clock.js';
import { ConfigError, isPostgresUrl, type Config, type ParsedConfig } from './config.js';

type SecretName = 'api-key' | 'token-secret';

/** Where a generated secret lives: beside the database, mode 0600. */
export function secretPath(dbPath: string, name: SecretName): string {
  return join(dirname(dbPath), name);
}

/** Reads a secret file kept beside the database, or undefined when there is none yet. */
export function readSecret(dbPath: string, name: SecretName): string | undefined {
  try {
    return readFileSync(secretPath(dbPath, name), 'utf8').trim() || undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Fills in the API key and token secret the configuration left unset: read from the data
 * folder, or generated there on first start. Reports each file it created (never the value).
 */
export function resolveSecrets(
  parsed: ParsedConfig,
  random: Random,
  onGenerated: (name: SecretName, path: string) => void,
): Config {
  const resolve = (given: string | undefined, name: SecretName, prefix: string): string => {
    if (given) return given;
    // No data folder to keep a generated one in, and hubs sharing a database must agree on it.
    if (isPostgresUrl(parsed.db)) {
      const variable = name === 'api-key' ? 'PUSHHUB_API_KEY' : 'PUSHHUB_TOKEN_SECRET';
      throw new ConfigError(`Invalid configuration: ${variable}: must be set when PUSHHUB_DB is a PostgreSQL URL (every hub on the database uses the same one)`);
    }
    const existing = readSecret(parsed.db, name);
    if (existing) return existing;
    const value = prefix + random.bytes(32).toString('base64url');
    const path = secretPath(parsed.db, name);
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 }); // like the database: only its owner may list the secrets
    try {
      writeFileSync(path, `${value}\n`, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      // Another process created it first: use theirs, so both agree.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readSecret(parsed.db, name)!;
      throw err;
    }
    onGenerated(name, path);
    return value;
  };
  return Object.freeze({
    ...parsed,
    apiKey: resolve(parsed.apiKey, 'api-key', 'phk_'),
    tokenSecret: resolve(parsed.tokenSecret, 'token-secret', ''),
  });
}
