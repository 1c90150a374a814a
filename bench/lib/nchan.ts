/**
 * Nchan (nginx's pub/sub module, C) as a peer of the hub in the fan-out and publish
 * benchmarks: nginx started by the benchmark in the foreground, as its child, from a config
 * generated into a temporary prefix (so /proc/<pid>/stat of its master and workers counts
 * as the server's CPU), listening on 127.0.0.1 only, messages in memory. `POST /pub?id=<channel>`
 * publishes the body as one message; `GET /sub/<channel>` is a WebSocket subscriber that
 * receives each message as one text frame. Returns null, with a line saying why, when nginx
 * or the module is missing (CI has neither; `apt-get install nginx-light libnginx-mod-nchan`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { log } from './common.js';
import type { PeerServer } from './fanout-servers.js';

const NGINX = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'];
const MODULE = ['/usr/lib/nginx/modules/ngx_nchan_module.so', '/usr/local/lib/nginx/modules/ngx_nchan_module.so'];

/** `1`: one worker (the comparison the targets name); `auto`: one per core. */
export type NchanWorkers = 1 | 'auto';

export interface NchanServer extends PeerServer {
  /** The nginx master's pid (its workers are its children). */
  pid: number;
}

/** nginx and the Nchan module, or why they cannot run here. */
export function findNchan(): { nginx: string; module: string } | { missing: string } {
  const nginx = NGINX.find((p) => existsSync(p));
  if (!nginx) return { missing: 'nginx not found (apt-get install nginx-light libnginx-mod-nchan)' };
  const module = MODULE.find((p) => existsSync(p));
  if (!module) return { missing: 'the Nchan module (ngx_nchan_module.so) not found (apt-get install libnginx-mod-nchan)' };
  return { nginx, module };
}

/** A free port on 127.0.0.1 (nginx needs a number in its config). */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

function config(module: string, prefix: string, port: number, workers: NchanWorkers): string {
  return `load_module ${module};
daemon off;
master_process on;
worker_processes ${workers};
worker_rlimit_nofile 20000;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  keepalive_requests 1000000;
  nchan_shared_memory_size 256m;
  server {
    listen 127.0.0.1:${port} reuseport backlog=4096;
    location = /pub {
      nchan_publisher http;
      nchan_channel_id $arg_id;
      nchan_message_buffer_length 100;
      nchan_message_timeout 60s;
    }
    location ~ ^/sub/(.+)$ {
      nchan_subscriber websocket;
      nchan_channel_id $1;
    }
  }
}
`;
}

/** Starts nginx with Nchan, or returns null (logged) when it is not installed. */
export async function startNchan(workers: NchanWorkers): Promise<NchanServer | null> {
  const found = findNchan();
  if ('missing' in found) {
    log(`skipping Nchan: ${found.missing}`);
    return null;
  }
  const prefix = mkdtempSync(join(tmpdir(), 'pushhub-nchan-'));
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(prefix, d));
  const port = await freePort();
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(conf, config(found.module, prefix, port, workers));
  const test = spawnSync(found.nginx, ['-t', '-p', prefix, '-c', conf], { encoding: 'utf8' });
  if (test.status !== 0) {
    log(`skipping Nchan: nginx -t failed: ${test.stderr.trim()}`);
    rmSync(prefix, { recursive: true, force: true });
    return null;
  }
  const child = spawn(found.nginx, ['-p', prefix, '-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = once(child, 'exit');
  const reap = (): void => void child.kill('SIGKILL');
  process.once('exit', reap);
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      const res = await fetch(`${url}/pub?id=ready`, { method: 'POST', body: 'ready' });
      await res.arrayBuffer();
      if (res.status < 300) break;
    } catch {
      /* not listening yet */
    }
    if (child.exitCode !== null || i >= 100) {
      const errors = existsSync(join(prefix, 'error.log')) ? readFileSync(join(prefix, 'error.log'), 'utf8') : '';
      child.kill('SIGKILL');
      rmSync(prefix, { recursive: true, force: true });
      throw new Error(`nginx did not start: ${errors.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    pid: child.pid!,
    async close() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      process.off('exit', reap);
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}
