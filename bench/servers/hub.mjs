// The hub for benchmarks: the compiled app (dist/, so no TypeScript loader sits in the hot
// path) with durable defaults on port 0 and a fresh database. It prints {"ready": url} like
// the baselines do. Config (keys as in src/config.ts, API key included) comes as JSON in
// argv[2]; bench/lib/common.ts startHubProcess() passes it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../../dist/app.js';
import { configSchema } from '../../dist/config.js';
import { createLogger } from '../../dist/logger.js';

const dir = mkdtempSync(join(tmpdir(), 'pushhub-bench-'));
const config = configSchema.parse({
  port: 0,
  db: join(dir, 'pushhub.db'),
  logLevel: 'warn',
  ...(process.argv[2] ? JSON.parse(process.argv[2]) : {}),
});
const app = await buildApp({ config, logger: createLogger(config.logLevel) });
const url = await app.listen();
process.stdout.write(`${JSON.stringify({ ready: url })}\n`);
// Started with --expose-gc (bench/connections-cluster.ts): SIGUSR2 collects garbage, so the
// RSS read from /proc afterwards is what the connections hold.
if (globalThis.gc) process.on('SIGUSR2', () => [0, 1, 2].forEach(() => globalThis.gc()));
process.on('SIGTERM', () =>
  void app.close().then(() => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  }),
);
