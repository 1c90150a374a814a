import { timingSafeEqual } from 'node:crypto';
import type { Matcher } from '../domain/patterns.js';
import { HubError } from '../errors.js';

/** Who is calling: the server (API key) or a subscriber holding a token with grants. */
export type Principal =
  | { kind: 'server' }
  | {
      kind: 'subscriber';
      sub: string | undefined;
      /** The token's `info` claim: what presence shows of this member. */
      info: Record<string, unknown> | undefined;
      canSubscribe: Matcher;
      canPublish: Matcher;
      /** epoch ms */
      expiresAt: number;
    };

export type TokenVerifier = (token: string) => Promise<Principal>;

export interface Authenticator {
  /** Resolves a credential to a principal; `401 unauthorized` when missing or not valid. */
  authenticate(credential: string | undefined): Promise<Principal>;
}

/**
 * The API key is compared in constant time (only its length can leak, as with any key);
 * anything else is tried as a subscriber token when a verifier is given.
 */
export function createAuthenticator(apiKey: string, verifyToken?: TokenVerifier): Authenticator {
  const key = Buffer.from(apiKey);
  const isKey = (credential: string): boolean => {
    const given = Buffer.from(credential);
    return given.length === key.length && timingSafeEqual(given, key);
  };
  return {
    async authenticate(credential) {
      if (!credential) throw new HubError('unauthorized');
      if (isKey(credential)) return { kind: 'server' };
      if (verifyToken) return verifyToken(credential);
      throw new HubError('unauthorized');
    },
  };
}

/** The token of an `Authorization: Bearer …` header, if it holds one. */
export function bearerOf(header: string | undefined): string | undefined {
  if (!header) return undefined;
  return /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
}

/** Whether a principal may read (subscribe to) a channel. */
export function maySubscribe(principal: Principal, channel: string): boolean {
  return principal.kind === 'server' || principal.canSubscribe(channel);
}

/** Whether a principal may publish to a channel. */
export function mayPublish(principal: Principal, channel: string): boolean {
  return principal.kind === 'server' || principal.canPublish(channel);
}

/** A member of the channels it subscribes to (presence): a token with a `sub`. The API key is none. */
export function memberOf(principal: Principal): { sub: string; info: Record<string, unknown> } | undefined {
  if (principal.kind !== 'subscriber' || principal.sub === undefined) return undefined;
  return { sub: principal.sub, info: principal.info ?? {} };
}
