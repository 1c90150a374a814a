import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { API_KEY, startHub, TOKEN_SECRET } from '../helpers/hub.js';
import { startReceiver } from '../helpers/receiver.js';

interface ErrorBody {
  error: { code: string; message: string };
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'dist', 'cli.js');
const root = mkdtempSync(join(tmpdir(), 'pushhub-private-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('a receiver on a private address', () => {
  it('is refused with url_not_allowed, and the message names the variable and the flag that allow it', async () => {
    const hub = await startHub();
    try {
      for (const url of ['http://127.0.0.1:3000/', 'http://localhost:3000/hook', 'http://10.1.2.3/']) {
        const res = await hub.api('/v1/subscriptions', { body: { url, channels: ['a'] } });
        expect(res.status, url).toBe(400);
        const { error } = (await res.json()) as ErrorBody;
        expect(error.code, url).toBe('url_not_allowed');
        expect(error.message, url).toContain('PUSHHUB_ALLOW_PRIVATE_URLS');
        expect(error.message, url).toContain('--allow-private-urls');
      }
    } finally {
      await hub.close();
    }
  });

  it('is accepted and delivered to by `pushhub serve --allow-private-urls` (the built CLI), which warns at start', async () => {
    if (!existsSync(CLI)) throw new Error('dist/cli.js is missing: run `npm run build` (npm test does) first');
    const db = join(root, 'cli', 'pushhub.db');
    const child = spawn(process.execPath, [CLI, 'serve', '--allow-private-urls', '--port', '0', '--db', db], {
      cwd: ROOT,
      env: { ...process.env, PUSHHUB_API_KEY: API_KEY, PUSHHUB_TOKEN_SECRET: TOKEN_SECRET, PUSHHUB_LOG_LEVEL: 'info', PUSHHUB_ALLOW_PRIVATE_URLS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const reap = (): void => void child.kill('SIGKILL');
    process.once('exit', reap);
    const exited = once(child, 'exit');
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const logs: Record<string, unknown>[] = [];
    const rx = await startReceiver(() => ({ status: 204 }));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`hub did not start\n${stderr}`)), 15_000);
        createInterface({ input: child.stdout! }).on('line', (line) => {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (entry.msg === 'pushhub listening') {
            clearTimeout(timer);
            resolve(String(entry.address));
          }
        });
        child.once('exit', (code) => reject(new Error(`hub exited with ${code}\n${stderr}`)));
      });
      const warnings = logs.filter((l) => l.level === 40 && /private URLs allowed/.test(String(l.msg)));
      expect(warnings).toHaveLength(1);

      const call = (path: string, body: unknown) =>
        fetch(url + path, {
          method: 'POST',
          headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const created = await call('/v1/subscriptions', { url: rx.url, channels: ['local'] });
      expect(created.status).toBe(201);
      expect(rx.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+/);
      const published = (await (await call('/v1/events', { channel: 'local', type: 't', data: 1 })).json()) as { id: string };
      const [delivery] = await rx.until((r) => r.length >= 1);
      expect(delivery!.headers['webhook-id']).toBe(published.id);

      // The database it made follows the permissions rule too (folder made by the store).
      expect(statSync(join(root, 'cli')).mode & 0o777).toBe(0o700);
      for (const file of [db, `${db}-wal`, `${db}-shm`]) expect(statSync(file).mode & 0o777, file).toBe(0o600);
    } finally {
      child.kill('SIGTERM');
      await exited;
      process.off('exit', reap);
      await rx.close();
    }
  });
});
