/** What the client needs of a WebSocket: the browser API, which `ws` also implements. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketFactory = (url: string, credential: string | undefined) => WebSocketLike;

type Ctor = new (url: string, protocols?: string | string[], options?: unknown) => WebSocketLike;

/**
 * Picks the WebSocket implementation: the platform's (browsers, Node 22+), else `ws`, loaded
 * only when needed through a dynamic import so that a browser never sees a Node module.
 * With `ws` the credential travels in the Authorization header, out of URLs and their logs;
 * the browser API cannot set headers, so there it goes as `?token=`.
 */
export async function defaultWebSocketFactory(): Promise<WebSocketFactory> {
  const native = (globalThis as { WebSocket?: Ctor }).WebSocket;
  if (typeof native === 'function') {
    return (url, credential) => new native(withToken(url, credential));
  }
  const ws = (await import(/* webpackIgnore: true */ /* @vite-ignore */ 'ws')) as { default: unknown };
  const NodeWebSocket = ws.default as Ctor;
  return (url, credential) =>
    new NodeWebSocket(url, [], credential ? { headers: { authorization: `Bearer ${credential}` } } : {});
}

/** Adds `?token=` to a URL. */
export function withToken(url: string, credential: string | undefined): string {
  if (!credential) return url;
  const u = new URL(url);
  u.searchParams.set('token', credential);
  return u.toString();
}
