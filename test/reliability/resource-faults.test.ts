import { afterEach, describe, expect, it } from 'vitest';
import { startHub, type TestHub } from '../helpers/hub.js';
import { readChannel } from '../helpers/load.js';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';

let fs: Tmpfs | undefined;
let hub: TestHub | undefined;
afterEach(async () => {
  await hub?.close().catch(() => undefined);
  fs?.remove();
  hub = fs = undefined;
});

const big = (i: number) => ({ channel: 'full', type: 't', data: { i, pad: 'x'.repeat(64 * 1024) } });

// A real full disk needs a mount (root here and in CI); elsewhere the suite says why it skips.
const canMount = (() => {
  const probe = mountTmpfs(1 << 20);
  probe?.remove();
  return probe !== undefined;
})();

describe.skipIf(!canMount)('storage faults on a real filesystem (needs mount)', () => {
  it('disk full → 503 with Retry-After, nothing half-written, recovery without restart once space returns', async () => {
    fs = mountTmpfs(2 << 20);
    if (!fs) return;
    hub = await startHub({ dir: fs.dir });
    const accepted: string[] = [];
    let refused: Response | undefined;
    for (let i = 0; i < 200 && !refused; i++) {
      const res = await hub.api('/v1/events', { body: big(i) });
      if (res.status === 202) accepted.push(((await res.json()) as { id: string }).id);
      else refused = res;
    }
    expect(refused?.status).toBe(503);
    expect(refused!.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(((await refused!.json()) as { error: { code: string } }).error.code).toBe('storage_unavailable');
    expect(accepted.length).toBeGreaterThan(3);
    // Still refusing while full, and the hub stays up.
    expect((await hub.api('/v1/events', { body: big(999) })).status).toBe(503);
    expect((await fetch(`${hub.url}/healthz`)).status).toBe(200);

    fs.resize(64 << 20);
    const after = await hub.api('/v1/events', { body: big(1000) });
    expect(after.status).toBe(202);
    accepted.push(((await after.json()) as { id: string }).id);
    const stored = (await readChannel(hub.url, 'full')).map((e) => e.id);
    expect(stored).toEqual(accepted); // every 202 exactly once, none of the refused
  });
});
