import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { startChildHub } from '../helpers/child-hub.js';
import { API_KEY } from '../helpers/hub.js';

it('the CLI serves, and SIGTERM exits 0', async () => {
  const db = join(mkdtempSync(join(tmpdir(), 'pushhub-child-')), 'p.db');
  const hub = await startChildHub(db);
  const res = await fetch(`${hub.url}/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ channel: 'a', type: 't', data: 1 }),
  });
  expect(res.status).toBe(202);
  expect(await hub.stop()).toBe(0);
});
