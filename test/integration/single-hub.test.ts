import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { configSchema, type Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { DatabaseInUseError } from '../../src/store/db.js';
import { startChildHub } from '../helpers/child-hub.js';
import { API_KEY, startHub, TOKEN_SECRET } from '../helpers/hub.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pushhub-single-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `pushhub serve` from the built CLI on `db`, to its exit: code and output. */
async function serveOnce(db: string): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['dist/cli.js', 'serve', '--port', '0', '--db', db], {
    cwd: ROOT,
    env: { ...process.env, PUSHHUB_API_KEY: API_KEY, PUSHHUB_TOKEN_SECRET: TOKEN_SECRET },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, output };
}

describe('one hub per SQLite file', () => {
  it('a second hub in the same process is refused while the first runs, and opens once it closed', async () => {
    const hubDir = join(dir, 'in-process');
    const first = await startHub({ dir: hubDir });
    const config = configSchema.parse({ port: 0, db: first.config.db, apiKey: API_KEY, tokenSecret: TOKEN_SECRET, logLevel: 'silent' }) as Config;
    await expect(buildApp({ config, logger: createLogger('silent') })).rejects.toThrow(DatabaseInUseError);
    // The refused attempt took nothing from the running hub: it still commits.
    const res = await first.api('/v1/events', { body: { channel: 'c', type: 't', data: 1 } });
    expect(res.status).toBe(202);
    await first.close();
    const second = await buildApp({ config, logger: createLogger('silent') });
    await second.listen();
    await second.close();
  });

  it('a second hub process on the same file exits 1 naming the problem; after a SIGKILL of the first, the next one starts', async () => {
    const db = join(dir, 'processes', 'pushhub.db');
    const first = await startChildHub(db);
    const refused = await serveOnce(db);
    expect(refused.code).toBe(1);
    expect(refused.output).toContain('is in use by another pushhub hub');
    expect(refused.output).not.toContain('pushhub listening');
    // The first one is untouched by the attempt.
    expect((await fetch(`${first.url}/readyz`)).status).toBe(200);

    await first.kill(); // no chance to release anything: the operating system drops the lock
    const next = await startChildHub(db);
    expect((await fetch(`${next.url}/readyz`)).status).toBe(200);
    expect(await next.stop()).toBe(0);
  }, 40_000);
});
