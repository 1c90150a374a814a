import { connect } from 'node:net';

/**
 * Sends raw bytes to a hub (no HTTP client in the way: malformed requests stay malformed),
 * half-closes, and resolves with everything the hub answered once it closes the connection
 * (or `timeoutMs` passed).
 */
export function rawExchange(hubUrl: string, raw: string, timeoutMs = 3000): Promise<string> {
  const { hostname, port } = new URL(hubUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.end(raw, 'latin1'));
    let answer = '';
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(answer);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? undefined : reject(err)));
  });
}
