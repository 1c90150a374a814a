import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { startChildHub } from '../helpers/child-hub.js';
import { API_KEY } from '../helpers/hub.js';

it('the CLI serves, and SIGTERM exits 0', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pushhub-child-'));
  try {
    const hub = await startChildHub(join(dir, 'p.db'));
    try {
      const res = await fetch(`${hub.url}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ channel: 'a', type: 't', data: 1 }),
      });
      expect(res.status).toBe(202);
      expect(await hub.stop()).toBe(0);
    } finally {
      await hub.kill();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// Found after the crash matrix: hubs whose test process had died (their stdout's reader gone)
// ignored SIGTERM for good. pino's default stdout destination writes asynchronously and
// flushes what is still queued at exit with a synchronous loop that retries a broken pipe
// forever (sonic-boom's flushSync sleeps and retries on every error but EAGAIN). The hub
// had closed everything and called process.exit(0), then spun in that loop.
it('a logger whose stdout nobody reads any more never holds the process up at exit', async () => {
  const script = "import { createLogger } from './src/logger.ts'; const log = createLogger('info'); log.info('one'); log.info('two'); process.exit(0);";
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('../../', import.meta.url)),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child.stdout!.destroy(); // the reader goes away: every write gets EPIPE
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const [code, signal] = await exited;
  clearTimeout(timer);
  expect({ code, signal }).toEqual({ code: 0, signal: null });
});
