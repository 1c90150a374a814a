import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import type { Clock } from '../clock.js';
import { tokenClaimsSchema, type MintInput } from './token-claims.js';
import { compilePatterns } from '../domain/patterns.js';
import { HubError } from '../errors.js';
import type { Principal, TokenVerifier } from './principal.js';

export interface MintedToken {
  token: string;
  /** epoch ms */
  expiresAt: number;
}

/** Signs and verifies subscriber tokens: HS256 JWTs with the hub's token secret. */
export interface TokenService {
  verify: TokenVerifier;
  mint(input: MintInput): Promise<MintedToken>;
}

const ALGORITHM = 'HS256';

/**
 * Tokens are verified against the injected clock (so tests can expire them without
 * sleeping). Every failure is the same `401 unauthorized`: the reason is logged by the
 * caller at debug, never echoed with the token.
 */
export function createTokenService(secret: string, clock: Clock): TokenService {
  const key = new TextEncoder().encode(secret);
  return {
    async verify(token): Promise<Principal> {
      let payload: unknown;
      try {
        ({ payload } = await jwtVerify(token, key, {
          algorithms: [ALGORITHM],
          requiredClaims: ['exp'],
          currentDate: new Date(clock.now()),
        }));
      } catch (err) {
        const expired = err instanceof joseErrors.JWTExpired;
        throw new HubError('unauthorized', {
          message: expired ? 'The token has expired.' : 'The token is not valid.',
          cause: err,
        });
      }
      const claims = tokenClaimsSchema.safeParse(payload);
      if (!claims.success) throw new HubError('unauthorized', { message: 'The token claims are not valid.' });
      const { exp, sub, channels, publish = [], info } = claims.data;
      return {
        kind: 'subscriber',
        sub,
        info,
        canSubscribe: compilePatterns(channels),
        canPublish: compilePatterns(publish),
        expiresAt: exp * 1000,
      };
    },
    async mint({ channels, publish, sub, info, ttl_s }) {
      const now = clock.now();
      const exp = Math.floor(now / 1000) + ttl_s;
      const jwt = new SignJWT({ channels, ...(publish ? { publish } : {}), ...(info ? { info } : {}) })
        .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
        .setIssuedAt(Math.floor(now / 1000))
        .setExpirationTime(exp);
      if (sub !== undefined) jwt.setSubject(sub);
      return { token: await jwt.sign(key), expiresAt: exp * 1000 };
    },
  };
}
