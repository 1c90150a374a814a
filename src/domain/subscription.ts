import type { RetryOverride } from './retry-policy.js';
import type { SignatureScheme } from './signatures.js';

export type DisabledReason = 'manual' | 'gone' | 'failing';

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
}

/** API.md's defaults for everything but the URL and the channels. */
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
  enabled: boolean;
  disabled_reason: DisabledReason | null;
  previous_secret_expires_at: string | null;
  created_at: string;
  updated_at: string;
}

export function subscriptionView(sub: Subscription, now: number): SubscriptionView {
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
    enabled: sub.enabled,
    disabled_reason: sub.disabledReason,
    previous_secret_expires_at: rotating ? new Date(sub.previousSecretExpiresAt!).toISOString() : null,
    created_at: new Date(sub.createdAt).toISOString(),
    updated_at: new Date(sub.updatedAt).toISOString(),
  };
}
