import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HubError } from './errors.js';

/**
 * Answers on a bare socket, where no Fastify reply exists (a refused WebSocket upgrade, a
 * request Node could not parse), with an API error in the usual shape, then closes it.
 */
export function endWithError(socket: Duplex, err: HubError, headers: Record<string, string> = {}): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(err.toJSON());
  if (err.retryAfterS !== undefined) headers = { ...headers, 'Retry-After': String(err.retryAfterS) };
  const extra = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${err.statusCode} ${STATUS_CODES[err.statusCode] ?? ''}\r\nConnection: close\r\n` +
      `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`,
    () => socket.destroy(),
  );
}
