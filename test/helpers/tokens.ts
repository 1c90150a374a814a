import { createHmac } from 'node:crypto';
import { TOKEN_SECRET, type TestHub } from './hub.js';

const HASH_OF: Record<string, string> = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' };

/**
 * A JWT made by hand: any JWT library's output must be accepted. `alg` picks the HMAC hash
 * (HS256/384/512); `none` leaves the signature empty, as an unsecured JWT does; any other
 * name is signed with SHA-256 under that header (a forgery the hub must refuse).
 */
export function handMadeJwt(claims: Record<string, unknown>, secret = TOKEN_SECRET, alg = 'HS256'): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const body = `${b64({ alg, typ: 'JWT' })}.${b64(claims)}`;
  if (alg === 'none') return `${body}.`;
  return `${body}.${createHmac(HASH_OF[alg] ?? 'sha256', secret).update(body).digest('base64url')}`;
}

/** Mints a token through POST /v1/tokens. */
export async function mintToken(
  hub: TestHub,
  body: { channels: string[]; publish?: string[]; sub?: string; info?: Record<string, unknown>; ttl_s?: number },
): Promise<string> {
  const res = await hub.api('/v1/tokens', { body });
  if (res.status !== 201) throw new Error(`POST /v1/tokens → ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

/** Publishes one event over HTTP; resolves with the 202 body. */
export async function publish(hub: TestHub, channel: string, data: unknown, type = 'test'): Promise<{ id: string; cursor: string }> {
  const res = await hub.api('/v1/events', { body: { channel, type, data } });
  if (res.status !== 202) throw new Error(`POST /v1/events → ${res.status} ${await res.text()}`);
  return (await res.json()) as { id: string; cursor: string };
}
