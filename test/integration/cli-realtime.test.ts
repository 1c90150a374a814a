import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startHub, TOKEN_SECRET, type TestHub } from '../helpers/hub.js';
import { publish } from '../helpers/tokens.js';
import { connect } from '../helpers/ws-client.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const cli = (args: string[], env: Record<string, string> = {}) =>
  spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, PUSHHUB_TOKEN_SECRET: TOKEN_SECRET, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });

let hub: TestHub;
beforeAll(async () => {
  hub = await startHub({ config: { logLevel: 'info' } });
});
afterAll(() => hub.close());

it('pushhub token mints a token the hub accepts, with the grants asked for', async () => {
  const child = cli(['token', '--channels', 'cli.*', '--sub', 'me', '--info', '{"name":"Me"}', '--ttl', '2m']);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((resolve) => child.on('exit', resolve));
  expect(child.exitCode).toBe(0);
  const token = out.trim();
  const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number; iat: number; sub: string; info: unknown };
  expect(claims.exp - claims.iat).toBe(120);
  expect(claims.sub).toBe('me');
  expect(claims.info).toEqual({ name: 'Me' });
  const c = await connect(hub.url, { query: token });
  expect((await c.request({ op: 'subscribe', channel: 'cli.x' })).op).toBe('subscribed');
  expect((await c.request({ op: 'subscribe', channel: 'other' })).code).toBe('forbidden');
  c.close();
});

it('pushhub tail prints each event as a JSON line, resuming after --cursor', async () => {
  const first = await publish(hub, 'tailed', { n: 1 });
  await publish(hub, 'tailed', { n: 2 });
  const child = cli(['tail', 'tailed', '--cursor', first.cursor, '--url', hub.url, '--api-key', 'test-api-key-0123456789']);
  const lines: Array<{ data: { n: number } }> = [];
  createInterface({ input: child.stdout }).on('line', (l) => lines.push(JSON.parse(l) as { data: { n: number } }));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + 15_000;
  while (!stderr.includes('subscribed to tailed') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await publish(hub, 'tailed', { n: 3 });
  while (lines.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGINT');
  await new Promise((resolve) => child.on('exit', resolve));
  expect(lines.map((l) => l.data.n)).toEqual([2, 3]);
  expect(stderr).toContain('resumed: true');
});

it("pushhub tail '$hub.subscriptions' follows the hub's operational events; pushhub replay --since replays and reports the task", async () => {
  const key = ['--url', hub.url, '--api-key', 'test-api-key-0123456789'];
  const child = cli(['tail', '$hub.subscriptions', ...key]);
  const lines: Array<{ channel: string; type: string; data: { subscription_id: string } }> = [];
  createInterface({ input: child.stdout }).on('line', (l) => lines.push(JSON.parse(l) as (typeof lines)[number]));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + 15_000;
  while (!stderr.includes('subscribed to $hub.subscriptions') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await publish(hub, 'replayed-by-cli', { n: 1 });
  await publish(hub, 'replayed-by-cli', { n: 2 });
  const res = await hub.api('/v1/subscriptions', { body: { url: 'https://example.com/hook', channels: ['replayed-by-cli'], enabled: false } });
  const sub = (await res.json()) as { id: string };
  while (lines.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGINT');
  await new Promise((resolve) => child.on('exit', resolve));
  expect(lines).toMatchObject([
    { channel: '$hub.subscriptions', type: 'subscription.created', data: { subscription_id: sub.id } },
    { channel: '$hub.subscriptions', type: 'subscription.disabled', data: { subscription_id: sub.id, disabled_reason: 'manual' } },
  ]);

  const replay = cli(['replay', sub.id, '--since', '2h', ...key]);
  const out: string[] = [];
  createInterface({ input: replay.stdout }).on('line', (l) => out.push(l));
  await new Promise((resolve) => replay.on('exit', resolve));
  expect(replay.exitCode).toBe(0);
  expect(JSON.parse(out[0]!)).toMatchObject({ task_id: expect.stringMatching(/^task_/) as unknown });
  expect(JSON.parse(out.at(-1)!)).toMatchObject({ kind: 'replay', state: 'succeeded', deliveries_created: 2 });

  const refused = cli(['replay', sub.id, ...key]);
  await new Promise((resolve) => refused.on('exit', resolve));
  expect(refused.exitCode).toBe(2);
});
