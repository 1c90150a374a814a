import { z } from 'zod';
import { headersSchema } from './headers.js';
import type { RetryOverride } from './retry-policy.js';
import type { SignatureScheme } from './signatures.js';

const DAY_MS = 86_400_000;

/** A subscription's `retry` override of the hub policy; every field optional, 0 = no limit for the two limits. */
export const retryOverrideSchema = z
  .strictObject({
    initial_delay_ms: z.int().min(0).max(DAY_MS).optional(),
    factor: z.number().min(1).max(10).optional(),
    max_delay_ms: z.int().min(0).max(7 * DAY_MS).optional(),
    max_attempts: z.int().min(0).max(10_000).optional().meta({ description: '0: no limit.' }),
    max_age_s: z.int().min(0).max(30 * 86_400).optional().meta({ description: '0: no limit.' }),
    schedule_ms: z
      .array(z.int().min(0).max(7 * DAY_MS))
      .min(1)
      .max(100)
      .optional()
      .meta({ description: 'Explicit delays before each retry, replacing the exponential curve.' }),
    timeout_ms: z.int().min(100).max(60_000).optional(),
  })
  .meta({ id: 'RetryOverride' });

export const signatureSchemeSchema = z.enum(['standard', 'stripe']);
export { headersSchema };
export const disabledReasonSchema = z.enum(['manual', 'gone', 'failing']);

export type DisabledReason = z.output<typeof disabledReasonSchema>;

/** What a subscription is made of, as the API sets it (ids, secrets and times aside). */
export interface SubscriptionSettings {
  url: string;
  channels: string[];
  /** null: every type. */
  types: string[] | null;
  description: string | null;
  ordered: boolean;
  maxInFlight: number;
  /** null: no limit. */
  rateLimitPerS: number | null;
  signatureScheme: SignatureScheme;
  retry: RetryOverride | null;
  /** Sent on every delivery; values are secrets of a kind (never logged). */
  headers: Record<string, string>;
}

/** The documented defaults for everything but the URL and the channels. */
export function defaultSettings(url: string, channels: string[]): SubscriptionSettings {
  return {
    url,
    channels,
    types: null,
    description: null,
    ordered: false,
    maxInFlight: 10,
    rateLimitPerS: null,
    signatureScheme: 'standard',
    retry: null,
    headers: {},
  };
}

/** A webhook subscription as stored. */
export interface Subscription extends SubscriptionSettings {
  id: string;
  secret: string;
  /** The secret before the last rotation, signing alongside until `previousSecretExpiresAt`. */
  previousSecret: string | null;
  previousSecretExpiresAt: number | null; // epoch ms
  enabled: boolean;
  disabledReason: DisabledReason | null;
  createdAt: number; // epoch ms
  updatedAt: number; // epoch ms
}

/** The secrets that sign at `now`, newest first. */
export function signingSecrets(sub: Subscription, now: number): string[] {
  const previousValid = sub.previousSecret !== null && (sub.previousSecretExpiresAt ?? 0) > now;
  return previousValid ? [sub.secret, sub.previousSecret!] : [sub.secret];
}

/** The public shape of a subscription: everything but its secrets. */
export const subscriptionViewSchema = z
  .strictObject({
    id: z.string(),
    url: z.string(),
    channels: z.array(z.string()),
    types: z.array(z.string()).nullable().meta({ description: 'null: every type.' }),
    description: z.string().nullable(),
    ordered: z.boolean(),
    max_in_flight: z.int(),
    rate_limit_per_s: z.number().nullable(),
    signature_scheme: signatureSchemeSchema,
    retry: retryOverrideSchema.nullable(),
    headers: z
      .record(z.string(), z.string().nullable())
      .meta({ description: 'The custom headers by name; each value is shown only to a key with scope subscriptions (or admin), null to others.' }),
    enabled: z.boolean(),
    disabled_reason: disabledReasonSchema.nullable(),
    previous_secret_expires_at: z.iso
      .datetime()
      .nullable()
      .meta({ description: 'Until then the secret before the last rotation signs alongside the new one.' }),
    created_at: z.iso.datetime(),
    updated_at: z.iso.datetime(),
  })
  .meta({ id: 'Subscription' });

export interface SubscriptionView {
  id: string;
  url: string;
  channels: string[];
  types: string[] | null;
  description: string | null;
  ordered: boolean;
  max_in_flight: number;
  rate_limit_per_s: number | null;
  signature_scheme: SignatureScheme;
  retry: RetryOverride | null;
  headers: Record<string, string | null>;
  enabled: boolean;
  disabled_reason: DisabledReason | null;
  previous_secret_expires_at: string | null;
  created_at: string;
  updated_at: string;
}

/** `showHeaderValues`: false hides each custom header's value (a reader without the subscriptions scope). */
export function subscriptionView(sub: Subscription, now: number, showHeaderValues = true): SubscriptionView {
  const rotating = sub.previousSecret !== null && (sub.previousSecretExpiresAt ?? 0) > now;
  return {
    id: sub.id,
    url: sub.url,
    channels: sub.channels,
    types: sub.types,
    description: sub.description,
    ordered: sub.ordered,
    max_in_flight: sub.maxInFlight,
    rate_limit_per_s: sub.rateLimitPerS,
    signature_scheme: sub.signatureScheme,
    retry: sub.retry,
    headers: showHeaderValues ? { ...sub.headers } : Object.fromEntries(Object.keys(sub.headers).map((name) => [name, null])),
    enabled: sub.enabled,
    disabled_reason: sub.disabledReason,
    previous_secret_expires_at: rotating ? new Date(sub.previousSecretExpiresAt!).toISOString() : null,
    created_at: new Date(sub.createdAt).toISOString(),
    updated_at: new Date(sub.updatedAt).toISOString(),
  };
}
