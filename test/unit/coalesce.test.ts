import { describe, expect, it } from 'vitest';
import { coalesced } from '../../src/coalesce.js';

describe('coalesced', () => {
  it('runs one at a time; calls during a run make one more run, which they all wait for', async () => {
    let runs = 0;
    let release: (() => void) | undefined;
    const job = coalesced(async () => {
      runs++;
      await new Promise<void>((resolve) => (release = resolve));
    });
    const first = job();
    expect(job.busy).toBe(true);
    const [second, third] = [job(), job()];
    release!();
    await Promise.resolve();
    await new Promise((r) => setImmediate(r));
    expect(runs).toBe(2); // the calls during the first run share one more
    release!();
    await Promise.all([first, second, third]);
    expect(runs).toBe(2);
    expect(job.busy).toBe(false);
  });

  it('a run that throws rejects its callers and leaves the job ready for the next call', async () => {
    let fail = true;
    const job = coalesced(async () => {
      if (fail) throw new Error('boom');
    });
    await expect(job()).rejects.toThrow('boom');
    fail = false;
    await expect(job()).resolves.toBeUndefined();
  });
});
