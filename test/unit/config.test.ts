import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { systemRandom } from '../../src/clock.js';
import { ConfigError, configSchema, describeDb, loadConfig } from '../../src/config.js';
import { resolveSecrets, secretPath } from '../../src/secrets.js';

const dirs: string[] = [];
/** A temp folder removed after this file's tests. */
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('loadConfig', () => {
  it('has the defaults of docs/protocol.md', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      host: '127.0.0.1',
      port: 8080,
      db: 'data/pushhub.db',
      allowPrivateUrls: false,
      logLevel: 'info',
      synchronous: 'FULL',
      bodyLimitBytes: 256 * 1024,
    });
    expect(c.apiKey).toBeUndefined();
    expect(c.retention.eventsMs).toBe(7 * 24 * 3600 * 1000);
    expect(c.retention.idempotencyMs).toBe(24 * 3600 * 1000);
    expect(Object.isFrozen(c) && Object.isFrozen(c.retention)).toBe(true);
  });

  it('reads the environment', () => {
    const c = loadConfig({
      env: {
        PUSHHUB_HOST: '::1',
        PUSHHUB_PORT: '0',
        PUSHHUB_DB: '/tmp/x.db',
        PUSHHUB_ALLOW_PRIVATE_URLS: 'true',
        PUSHHUB_LOG_LEVEL: 'warn',
        PUSHHUB_API_KEY: 'k'.repeat(20),
        PUSHHUB_SYNCHRONOUS: 'NORMAL',
        UNRELATED: 'x',
      },
    });
    expect(c).toMatchObject({ host: '::1', port: 0, db: '/tmp/x.db', allowPrivateUrls: true, logLevel: 'warn', synchronous: 'NORMAL' });
  });

  it('lets flags override the environment, and the environment a config file', () => {
    const dir = tempDir('pushhub-cfg-');
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ port: 1, host: '0.0.0.0', retention: { eventsMs: 3_600_000 } }));
    const c = loadConfig({ env: { PUSHHUB_CONFIG: file, PUSHHUB_PORT: '2' }, flags: { '--port': '3' } });
    expect(c.port).toBe(3);
    expect(c.host).toBe('0.0.0.0');
    expect(c.retention.eventsMs).toBe(3_600_000);
    expect(c.retention.batchSize).toBe(1000);
  });

  it.each([
    [{ PUSHHUB_PORT: 'abc' }, 'PUSHHUB_PORT'],
    [{ PUSHHUB_PORT: '70000' }, 'PUSHHUB_PORT'],
    [{ PUSHHUB_PORT: '1.5' }, 'PUSHHUB_PORT'],
    [{ PUSHHUB_ALLOW_PRIVATE_URLS: 'yes' }, 'PUSHHUB_ALLOW_PRIVATE_URLS'],
    [{ PUSHHUB_LOG_LEVEL: 'loud' }, 'PUSHHUB_LOG_LEVEL'],
    [{ PUSHHUB_API_KEY: 'short' }, 'PUSHHUB_API_KEY'],
    [{ PUSHHUB_TOKEN_SECRET: 'short' }, 'PUSHHUB_TOKEN_SECRET'],
    [{ PUSHHUB_SYNCHRONOUS: 'OFF' }, 'PUSHHUB_SYNCHRONOUS'],
  ])('stops on %j naming the variable', (env, name) => {
    expect(() => loadConfig({ env })).toThrow(ConfigError);
    expect(() => loadConfig({ env })).toThrow(new RegExp(`^Invalid configuration: ${name}: `));
  });

  it('names the flag that set a wrong value, and refuses unknown flags', () => {
    expect(() => loadConfig({ flags: { '--port': '-1' } })).toThrow(/--port: /);
    expect(() => loadConfig({ flags: { '--nope': '1' } })).toThrow(/unknown flag --nope/);
  });

  it('takes PUSHHUB_DB as a SQLite path or a PostgreSQL URL, never a URL of another scheme as a file name', () => {
    expect(loadConfig({ env: { PUSHHUB_DB: './data/x.db' } }).db).toBe('./data/x.db');
    expect(loadConfig({ env: { PUSHHUB_DB: 'postgres://u@127.0.0.1/hub' } }).db).toBe('postgres://u@127.0.0.1/hub');
    expect(loadConfig({ env: { PUSHHUB_DB: 'postgresql://u:pw@127.0.0.1:5433/hub' } }).db).toBe('postgresql://u:pw@127.0.0.1:5433/hub');
    expect(() => loadConfig({ env: { PUSHHUB_DB: 'postgres://[bad/hub' } })).toThrow(/PUSHHUB_DB: is not a valid postgres:\/\/ URL/);
    expect(() => loadConfig({ env: { PUSHHUB_DB: 'MySQL://h/db' } })).toThrow(/PUSHHUB_DB: must be a SQLite file path or a postgres:\/\/ URL, not a mysql:\/\/ URL/);
  });

  it('has PostgreSQL pool defaults, overridable from the config file section', () => {
    expect(loadConfig().postgres).toEqual({ poolSize: 10, statementTimeoutMs: 5_000, connectTimeoutMs: 5_000, pollMs: 1_000, heartbeatMs: 5_000 });
    expect(configSchema.parse({ postgres: { poolSize: 3 } }).postgres.poolSize).toBe(3);
    expect(() => configSchema.parse({ postgres: { poolSize: 0 } })).toThrow();
    expect(() => configSchema.parse({ postgres: { nope: 1 } })).toThrow();
  });

  it('needs the API key and token secret given with a PostgreSQL URL (no data folder to generate them in)', () => {
    const parsed = loadConfig({ env: { PUSHHUB_DB: 'postgres://u@127.0.0.1/hub' } });
    expect(() => resolveSecrets(parsed, systemRandom, () => undefined)).toThrow(/PUSHHUB_API_KEY: must be set when PUSHHUB_DB is a PostgreSQL URL/);
    const withKey = loadConfig({ env: { PUSHHUB_DB: 'postgres://u@127.0.0.1/hub', PUSHHUB_API_KEY: 'k'.repeat(16) } });
    expect(() => resolveSecrets(withKey, systemRandom, () => undefined)).toThrow(/PUSHHUB_TOKEN_SECRET/);
  });

  it('logs a PostgreSQL URL without its password', () => {
    expect(describeDb('postgres://u:secret@h:5432/db')).toBe('postgres://u:REDACTED@h:5432/db');
    expect(describeDb('data/pushhub.db')).toBe('data/pushhub.db');
  });

  it('takes PUSHHUB_CORS_ORIGINS as * or a list of exact origins', () => {
    expect(loadConfig({}).corsOrigins).toEqual(['*']);
    expect(loadConfig({ env: { PUSHHUB_CORS_ORIGINS: 'https://a.example.com, http://localhost:3000' } }).corsOrigins).toEqual([
      'https://a.example.com',
      'http://localhost:3000',
    ]);
    expect(() => loadConfig({ env: { PUSHHUB_CORS_ORIGINS: 'https://a.example.com/app' } })).toThrow(/PUSHHUB_CORS_ORIGINS: must be \* or origins/);
    expect(() => loadConfig({ env: { PUSHHUB_CORS_ORIGINS: '*,https://a.example.com' } })).toThrow(/PUSHHUB_CORS_ORIGINS: must be \* alone/);
    expect(() => loadConfig({ env: { PUSHHUB_CORS_ORIGINS: ' , ' } })).toThrow(/PUSHHUB_CORS_ORIGINS: must name at least one origin/);
  });

  it('refuses unknown keys and wrong values in a config file', () => {
    const dir = tempDir('pushhub-cfg-');
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ prot: 1, retention: { eventsMs: 'soon' } }));
    expect(() => loadConfig({ file })).toThrow(/prot/);
    expect(() => loadConfig({ file })).toThrow(/retention\.eventsMs/);
    writeFileSync(file, '[1]');
    expect(() => loadConfig({ file })).toThrow(/must hold a JSON object/);
    expect(() => loadConfig({ file: join(dir, 'missing.json') })).toThrow(/cannot read config file/);
  });
});

describe('resolveSecrets', () => {
  it('generates the API key and token secret once, mode 0600, and reuses them', () => {
    const dir = tempDir('pushhub-sec-');
    const parsed = loadConfig({ env: { PUSHHUB_DB: join(dir, 'sub', 'hub.db') } });
    const generated: string[] = [];
    const first = resolveSecrets(parsed, systemRandom, (name) => generated.push(name));
    expect(generated).toEqual(['api-key', 'token-secret']);
    expect(first.apiKey).toMatch(/^phk_[\w-]{43}$/);
    expect(first.tokenSecret.length).toBeGreaterThanOrEqual(32);
    expect(statSync(secretPath(parsed.db, 'api-key')).mode & 0o777).toBe(0o600);
    const second = resolveSecrets(parsed, systemRandom, (name) => generated.push(name));
    expect(second.apiKey).toBe(first.apiKey);
    expect(second.tokenSecret).toBe(first.tokenSecret);
    expect(generated).toHaveLength(2);
  });

  it('keeps configured values and writes nothing', () => {
    const dir = tempDir('pushhub-sec-');
    const parsed = loadConfig({ env: { PUSHHUB_DB: join(dir, 'hub.db'), PUSHHUB_API_KEY: 'a'.repeat(16), PUSHHUB_TOKEN_SECRET: 'b'.repeat(32) } });
    const c = resolveSecrets(parsed, systemRandom, () => expect.fail('nothing should be generated'));
    expect(c.apiKey).toBe('a'.repeat(16));
  });
});
