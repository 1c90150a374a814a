import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub, type TestHub } from '../helpers/hub.js';
import { createSubscription, eventStatus, publish, waitFor } from '../helpers/webhooks.js';

// examples/receiver.mjs as the README tells a user to run it, against a real hub.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Example {
  child: ChildProcess;
  url: string;
  /** stdout lines: one per new event. */
  lines: string[];
  stderr: () => string;
}

async function startExample(env: Record<string, string>): Promise<Example> {
  const child = spawn(process.execPath, ['examples/receiver.mjs'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const reap = (): void => void child.kill('SIGKILL');
  process.once('exit', reap);
  child.once('exit', () => process.off('exit', reap));
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line));
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`receiver did not start\n${stderr}`)), 10_000);
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`receiver exited with ${code}\n${stderr}`));
    });
  });
  return { child, url, lines, stderr: () => stderr };
}

describe('examples/receiver.mjs', () => {
  let hub: TestHub;
  let example: Example;
  let secret: string;
  beforeAll(async () => {
    hub = await startHub({ config: { allowPrivateUrls: true } });
    // The secret exists only once the subscription does, and the receiver needs it to start:
    // subscribe to a placeholder, start the receiver with the secret, then point the URL at it.
    const sub = await createSubscription(hub, { url: 'http://127.0.0.1:9/', channels: ['example'] });
    secret = sub.secret;
    example = await startExample({ WEBHOOK_SECRET: secret, PORT: '0' });
    const patched = await hub.api(`/v1/subscriptions/${sub.id}`, { method: 'PATCH', body: { url: example.url } });
    expect(patched.status).toBe(200);
  });
  afterAll(async () => {
    if (example) {
      example.child.kill('SIGTERM');
      if (example.child.exitCode === null) await once(example.child, 'exit');
    }
    await hub?.close();
  });

  it('prints a delivered event once, as one JSON line, also when the hub sends it again', async () => {
    const published = await publish(hub, 'example', 'order.created', { n: 1 });
    await waitFor(async () => example.lines.length >= 1, 10_000, 'event printed');
    expect(example.lines).toHaveLength(1);
    expect(JSON.parse(example.lines[0]!)).toMatchObject({ id: published.id, channel: 'example', type: 'order.created', data: { n: 1 } });
    const { deliveries } = await waitFor(async () => {
      const status = await eventStatus(hub, published.id);
      return status.deliveries[0]?.state === 'succeeded' && status;
    }, 10_000, 'delivery succeeded');

    // A redelivery of the same event (same webhook-id) is answered 2xx and not printed again.
    const retry = await hub.api(`/v1/deliveries/${deliveries[0]!.id}/retry`, { method: 'POST' });
    expect(retry.status).toBe(202);
    await waitFor(async () => {
      const status = await eventStatus(hub, published.id);
      const d = status.deliveries[0]!;
      return d.attempts === 2 && d.state === 'succeeded';
    }, 10_000, 'second attempt succeeded');
    expect(example.lines).toHaveLength(1);
  });

  it('answers 400 to a forged or unsigned request and prints nothing', async () => {
    const before = example.lines.length;
    const body = JSON.stringify({ id: 'evt_forged', channel: 'example', type: 'x', data: {} });
    const now = Math.floor(Date.now() / 1000);
    const forger = new Webhook(`whsec_${Buffer.from('not the subscription secret 0123').toString('base64')}`);
    const forged = await fetch(example.url, {
      method: 'POST',
      headers: { 'webhook-id': 'evt_forged', 'webhook-timestamp': String(now), 'webhook-signature': forger.sign('evt_forged', new Date(now * 1000), body), 'content-type': 'application/json' },
      body,
    });
    expect(forged.status).toBe(400);
    const unsigned = await fetch(example.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(unsigned.status).toBe(400);
    // The same request signed with the right secret is accepted: only the signature differed.
    const signed = await fetch(example.url, {
      method: 'POST',
      headers: { 'webhook-id': 'evt_forged', 'webhook-timestamp': String(now), 'webhook-signature': new Webhook(secret).sign('evt_forged', new Date(now * 1000), body) },
      body,
    });
    expect(signed.status).toBe(204);
    expect(example.lines.slice(before).map((l) => (JSON.parse(l) as { id: string }).id)).toEqual(['evt_forged']);
  });

  it('refuses to start without WEBHOOK_SECRET, saying what to set', async () => {
    const child = spawn(process.execPath, ['examples/receiver.mjs'], { cwd: ROOT, env: { ...process.env, WEBHOOK_SECRET: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = await once(child, 'exit');
    expect(code).toBe(2);
    expect(stderr).toContain('WEBHOOK_SECRET');
    expect(stderr).toContain('whsec_');
  });
});
