import { createHmac } from 'node:crypto';
import type { Random } from '../clock.js';

export type SignatureScheme = 'standard' | 'stripe';

const PREFIX = 'whsec_';
/** 32 random bytes: above the 24 Standard Webhooks asks for. */
const SECRET_BYTES = 32;

/** A new signing secret: `whsec_` + base64 of random bytes (the Standard Webhooks format). */
export function newSecret(random: Random): string {
  return PREFIX + random.bytes(SECRET_BYTES).toString('base64');
}

/** Signature headers for one attempt; the body must be the exact bytes sent. */
export type Signer = (msgId: string, timestampS: number, body: string) => Record<string, string>;

/**
 * Precomputes the HMAC keys of a subscription's secrets (newest first; two during a
 * rotation) and returns a signer that emits one signature per secret.
 *
 * - `standard`: `webhook-signature: v1,<base64 HMAC(key, "<id>.<ts>.<body>")>`, entries
 *   separated by a space; the key is the base64 after `whsec_`, as every Standard Webhooks
 *   library decodes it.
 * - `stripe`: `x-signature: t=<ts>,v1=<hex HMAC(key, "<ts>.<body>")>[,v1=…]`; the key is the
 *   secret string itself, as Stripe's own libraries use `whsec_…` secrets.
 */
export function createSigner(scheme: SignatureScheme, secrets: readonly string[]): Signer {
  if (scheme === 'stripe') {
    const keys = secrets.map((s) => Buffer.from(s, 'utf8'));
    return (_msgId, ts, body) => {
      const v1 = keys.map((key) => `,v1=${createHmac('sha256', key).update(`${ts}.${body}`).digest('hex')}`);
      return { 'x-signature': `t=${ts}${v1.join('')}` };
    };
  }
  const keys = secrets.map(standardKey);
  return (msgId, ts, body) => {
    const signed = `${msgId}.${ts}.${body}`;
    const entries = keys.map((key) => `v1,${createHmac('sha256', key).update(signed).digest('base64')}`);
    return { 'webhook-signature': entries.join(' ') };
  };
}

function standardKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret, 'base64');
}
