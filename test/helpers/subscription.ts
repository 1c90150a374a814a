import { defaultSettings, type Subscription } from '../../src/domain/subscription.js';

/** A subscription as the store keeps it (default settings, enabled, one secret), for tests that write one directly. */
export function storedSubscription(url: string, channels: string[], over: Partial<Subscription> & Pick<Subscription, 'id' | 'secret'>): Subscription {
  return {
    ...defaultSettings(url, channels),
    previousSecret: null,
    previousSecretExpiresAt: null,
    enabled: true,
    disabledReason: null,
    createdAt: 1,
    updatedAt: 1,
    ...over,
  };
}
