import { createServer, connect as netConnect, type Socket } from 'node:net';

export interface TcpProxy {
  /** http://127.0.0.1:<port> forwarding to the target. */
  url: string;
  /** Cuts every connection at once, as a network drop would (no close frames). */
  dropAll(): void;
  close(): Promise<void>;
}

/** A TCP proxy in front of the hub, so a test can drop a client's connection from outside. */
export async function startProxy(targetUrl: string): Promise<TcpProxy> {
  const target = new URL(targetUrl);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = netConnect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const dropAll = (): void => {
    for (const s of sockets) s.resetAndDestroy();
  };
  return {
    url: `http://127.0.0.1:${port}`,
    dropAll,
    async close() {
      dropAll();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
