import { z } from 'zod';
import { patternProblem } from '../domain/patterns.js';

const patternSchema = z.string().superRefine((value, ctx) => {
  const problem = patternProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** Longest `sub` accepted: a client id, not a document. */
const MAX_SUB = 256;
/** Grants per token: enough for any real app, small enough that matching stays cheap. */
const MAX_PATTERNS = 100;

const patternsSchema = z.array(patternSchema).max(MAX_PATTERNS, `must hold at most ${MAX_PATTERNS} patterns`);

/** Largest `info` claim, serialised: presence shows it to every member of a channel. */
export const MAX_INFO_BYTES = 1024;

/**
 * A member's `info` (presence): a JSON object of the app's choosing, at most 1 KiB as JSON.
 * Refused at mint (400 naming `info`) and in a token (401, close 4001), like any bad claim.
 */
export const memberInfoSchema = z
  .record(z.string(), z.unknown())
  .refine((info) => Buffer.byteLength(JSON.stringify(info)) <= MAX_INFO_BYTES, `must be at most ${MAX_INFO_BYTES} bytes as JSON`)
  .meta({ id: 'MemberInfo', description: 'What presence shows of a member to the others: a JSON object, at most 1 KiB serialised.' });

/**
 * The claims of a subscriber token (docs/protocol.md, Authentication). Other registered claims
 * (`iat`, `nbf`, `iss`, …) may be present and are left to jose; unknown claims are ignored so
 * that apps can mint tokens with any JWT library and add their own.
 */
export const tokenClaimsSchema = z.looseObject({
  // RFC 7519 NumericDate: seconds, fractions allowed (PyJWT and others mint `time() + ttl`).
  exp: z.number(),
  sub: z.string().min(1).max(MAX_SUB).optional(),
  channels: patternsSchema,
  publish: patternsSchema.optional(),
  info: memberInfoSchema.optional(),
});
export type TokenClaims = z.output<typeof tokenClaimsSchema>;

/** The body of `POST /v1/tokens`. `ttl_s` is bounded by the hub's `realtime.maxTokenTtlS`. */
export function mintInputSchema(maxTtlS: number) {
  return z.strictObject({
    channels: patternsSchema,
    publish: patternsSchema.optional(),
    sub: z.string().min(1).max(MAX_SUB).optional(),
    info: memberInfoSchema
      .optional()
      .meta({ description: 'Shown to the other members of the channels this token subscribes to (presence); only a token with a `sub` is a member.' }),
    ttl_s: z.number().int('must be whole seconds').min(1, 'must be at least 1').max(maxTtlS, `must be at most ${maxTtlS}`).default(3600),
  });
}
export type MintInput = z.output<ReturnType<typeof mintInputSchema>>;
