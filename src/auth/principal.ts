import { timingSafeEqual } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { Matcher } from '../domain/patterns.js';
import { HubError } from '../errors.js';
import { isExpired, isKeyShaped, type StoredKey } from './keys.js';
import { grants, type Scope } from './scopes.js';

/** The id the root key (PUSHHUB_API_KEY) goes by in logs. */
export const ROOT_KEY_ID = 'root';

/** Who is calling: the server (an API key, with its scopes) or a subscriber holding a token with grants. */
export type Principal =
  | {
      kind: 'server';
      /** `root` for PUSHHUB_API_KEY, else the stored key's id: what logs show, never the key. */
      keyId: string;
      scopes: readonly Scope[];
      /** epoch ms; undefined: never expires */
      expiresAt: number | undefined;
    }
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

/** What a request or an operation needs: a scope (server routes), or to read or publish one channel. */
export type Need = { scope: Scope } | { read: string } | { publish: string };

export type AuthOutcome = 'allowed' | 'forbidden' | 'unauthorized';

export interface Authenticator {
  /** Resolves a credential to a principal; `401 unauthorized` when missing or not valid. */
  authenticate(credential: string | undefined): Promise<Principal>;
  /** Whether the principal may do what `need` says; each answer is counted (pushhub_auth_total). */
  authorize(principal: Principal, need: Need): boolean;
}

/** Where stored keys are found (the key ring): by the key itself, never listed to callers. */
export interface KeyLookup {
  find(key: string): Promise<StoredKey | undefined>;
  /** A use of the key (its `last_used_at`, batched). */
  used(key: StoredKey): void;
}

export interface AuthenticatorOptions {
  /** PUSHHUB_API_KEY: the root key, scope `admin`, compared in constant time and never stored. */
  rootKey: string;
  keys?: KeyLookup;
  verifyToken?: TokenVerifier;
  clock: Clock;
  onOutcome?: (outcome: AuthOutcome) => void;
}

const ROOT_SCOPES: readonly Scope[] = ['admin'];

/**
 * The root key is compared in constant time (only its length can leak, as with any key);
 * a credential shaped like an issued key is looked up by its hash (nothing about a stored key
 * leaks through the lookup's timing); anything else is tried as a subscriber token.
 */
export function createAuthenticator({ rootKey, keys, verifyToken, clock, onOutcome }: AuthenticatorOptions): Authenticator {
  const root = Buffer.from(rootKey);
  const isRoot = (credential: string): boolean => {
    const given = Buffer.from(credential);
    return given.length === root.length && timingSafeEqual(given, root);
  };
  const resolve = async (credential: string | undefined): Promise<Principal> => {
    if (!credential) throw new HubError('unauthorized');
    if (isRoot(credential)) return { kind: 'server', keyId: ROOT_KEY_ID, scopes: ROOT_SCOPES, expiresAt: undefined };
    if (keys && isKeyShaped(credential)) {
      const key = await keys.find(credential);
      if (!key) throw new HubError('unauthorized', { message: 'The API key is not valid (unknown or revoked).' });
      if (isExpired(key, clock.now())) throw new HubError('unauthorized', { message: 'The API key has expired.' });
      keys.used(key);
      return { kind: 'server', keyId: key.id, scopes: key.scopes, expiresAt: key.expiresAt ?? undefined };
    }
    if (verifyToken) return verifyToken(credential);
    throw new HubError('unauthorized');
  };
  return {
    async authenticate(credential) {
      try {
        return await resolve(credential);
      } catch (err) {
        onOutcome?.('unauthorized');
        throw err;
      }
    },
    authorize(principal, need) {
      const ok = allows(principal, need);
      onOutcome?.(ok ? 'allowed' : 'forbidden');
      return ok;
    },
  };
}

/** The scope table applied: a key by its scopes, a token by its grants (a token holds no scope). */
export function allows(principal: Principal, need: Need): boolean {
  if ('scope' in need) return principal.kind === 'server' && grants(principal.scopes, need.scope);
  if ('read' in need) return principal.kind === 'server' ? grants(principal.scopes, 'read') : principal.canSubscribe(need.read);
  return principal.kind === 'server' ? grants(principal.scopes, 'publish') : principal.canPublish(need.publish);
}

/** The token of an `Authorization: Bearer …` header, if it holds one. */
export function bearerOf(header: string | undefined): string | undefined {
  if (!header) return undefined;
  return /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
}

/** A member of the channels it subscribes to (presence): a token with a `sub`. An API key is none. */
export function memberOf(principal: Principal): { sub: string; info: Record<string, unknown> } | undefined {
  if (principal.kind !== 'subscriber' || principal.sub === undefined) return undefined;
  return { sub: principal.sub, info: principal.info ?? {} };
}

/** What logs show of a principal: the key id, or the token's `sub` (never a credential). */
export function principalLog(principal: Principal | undefined): { keyId?: string; sub?: string } {
  if (!principal) return {};
  return principal.kind === 'server' ? { keyId: principal.keyId } : principal.sub === undefined ? {} : { sub: principal.sub };
}
