import { compilePattern, isWildcard, type Matcher } from '../domain/patterns.js';
import { resolvePolicy, type RetryPolicy } from '../domain/retry-policy.js';
import { createSigner, type Signer } from '../domain/signatures.js';
import { signingSecrets, type Subscription } from '../domain/subscription.js';

/** A subscription with what sending to it needs, computed once per change. */
export interface IndexedSubscription {
  readonly sub: Subscription;
  readonly url: URL;
  readonly policy: RetryPolicy;
  /** The signer for `now`; rebuilt once the previous secret stops signing. */
  signerAt(now: number): Signer;
}

interface Entry extends IndexedSubscription {
  /** Channels named exactly (no wildcard): found through the channel map. */
  readonly exactChannels: ReadonlySet<string>;
  /** Channel patterns with wildcards: tried one by one. */
  readonly wildChannels: Matcher | undefined;
  readonly matchType: Matcher;
}

const everything: Matcher = () => true;

function entryOf(sub: Subscription, hubPolicy: RetryPolicy): Entry {
  const exact = sub.channels.filter((p) => !isWildcard(p));
  const wild = sub.channels.filter(isWildcard).map(compilePattern);
  const types = sub.types?.map(compilePattern);
  let signer: { until: number; sign: Signer } | undefined;
  return {
    sub,
    url: new URL(sub.url),
    policy: resolvePolicy(hubPolicy, sub.retry),
    exactChannels: new Set(exact),
    wildChannels: wild.length > 0 ? (name) => wild.some((m) => m(name)) : undefined,
    matchType: types ? (name) => types.some((m) => m(name)) : everything,
    signerAt(now) {
      if (!signer || now >= signer.until) {
        const secrets = signingSecrets(sub, now);
        const until = secrets.length > 1 ? sub.previousSecretExpiresAt! : Number.POSITIVE_INFINITY;
        signer = { until, sign: createSigner(sub.signatureScheme, secrets) };
      }
      return signer.sign;
    },
  };
}

/**
 * Every subscription in memory, kept in step with each write, so that matching an event
 * (planning each commit's outbox) costs a map lookup plus the wildcard patterns, never a
 * query. Exact channel names go through a map; only wildcard patterns are tried in turn.
 */
export class SubscriptionIndex {
  private readonly byId = new Map<string, Entry>();
  private readonly byChannel = new Map<string, Entry[]>();
  private wild: Entry[] = [];
  private list: Entry[] = [];

  constructor(private readonly hubPolicy: RetryPolicy) {}

  set(sub: Subscription): void {
    this.byId.set(sub.id, entryOf(sub, this.hubPolicy));
    this.rebuild();
  }

  remove(id: string): void {
    if (this.byId.delete(id)) this.rebuild();
  }

  get(id: string): IndexedSubscription | undefined {
    return this.byId.get(id);
  }

  /** All subscriptions, oldest first. */
  all(): readonly IndexedSubscription[] {
    return this.list;
  }

  /** The subscriptions (enabled or not) whose channel and type patterns match. */
  match(channel: string, type: string): IndexedSubscription[] {
    const found: Entry[] = [];
    for (const e of this.byChannel.get(channel) ?? []) if (e.matchType(type)) found.push(e);
    for (const e of this.wild) {
      if (!e.exactChannels.has(channel) && e.wildChannels!(channel) && e.matchType(type)) found.push(e);
    }
    return found;
  }

  /** Changes are rare (API calls); matching is hot. So the lookup structures are rebuilt whole. */
  private rebuild(): void {
    this.list = [...this.byId.values()].sort((a, b) => a.sub.createdAt - b.sub.createdAt || (a.sub.id < b.sub.id ? -1 : 1));
    this.byChannel.clear();
    for (const e of this.list) {
      for (const channel of e.exactChannels) {
        const entries = this.byChannel.get(channel);
        if (entries) entries.push(e);
        else this.byChannel.set(channel, [e]);
      }
    }
    this.wild = this.list.filter((e) => e.wildChannels !== undefined);
  }
}
