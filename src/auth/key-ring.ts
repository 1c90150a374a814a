import { coalesced } from '../coalesce.js';
import { timingSafeEqual } from 'node:crypto';
import type { Clock, Random } from '../clock.js';
import { newId } from '../domain/ids.js';
import { invalidRequest } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Store } from '../store/store.js';
import { hashKey, LastUsedBatch, newKey, type KeyCreate, type StoredKey } from './keys.js';
import type { KeyLookup } from './principal.js';

export interface KeyRingOptions {
  store: Store;
  clock: Clock;
  random: Random;
  logger: Logger;
  /** How often the uses gathered are written (`last_used_at`, at most once a minute per key). */
  flushMs: number;
}

/**
 * The hub's API keys: every stored key in memory by hash, so a request costs no query. Kept
 * current by reloading on the store's `keys` and `resync` changes (other hubs' writes) and
 * after this hub's own; a key-shaped credential not in memory is looked up in the store once
 * (created through another hub a moment ago). Also the service behind /v1/keys.
 */
export class KeyRing implements KeyLookup {
  private byHash = new Map<string, StoredKey>();
  /** Grows with every reload started: a lookup that began before one must not undo it. */
  private generation = 0;
  /**
   * Reads every key again; resolves once a read that started after the call has been applied
   * (calls during a read share the next one).
   */
  readonly reload = coalesced(async () => {
    this.generation++;
    try {
      const keys = await this.opts.store.listKeys();
      this.byHash = new Map(keys.map((k) => [k.hash, k]));
      const ids = new Set(keys.map((k) => k.id));
      for (const listener of this.listeners) listener((id) => ids.has(id));
    } catch (err) {
      this.opts.logger.warn({ err }, 'API keys could not be reloaded; keeping the ones loaded before');
    }
  });
  private readonly uses = new LastUsedBatch();
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly listeners: Array<(has: (keyId: string) => boolean) => void> = [];

  constructor(private readonly opts: KeyRingOptions) {}

  /** Loads every key and starts writing uses; the store's changes reload it from then on. */
  async start(): Promise<void> {
    this.opts.store.watch((change) => {
      if (change.kind === 'keys' || change.kind === 'resync') void this.reload();
    });
    await this.reload();
    this.flushTimer = setInterval(() => void this.flush(), this.opts.flushMs);
    this.flushTimer.unref();
  }

  /** Writes the uses still gathered. */
  async close(): Promise<void> {
    clearInterval(this.flushTimer);
    await this.flush();
  }

  /** Called after each reload with whether a key id still exists (open connections of revoked keys are closed). */
  onReload(listener: (has: (keyId: string) => boolean) => void): void {
    this.listeners.push(listener);
  }

  async find(key: string): Promise<StoredKey | undefined> {
    const hash = hashKey(key);
    const known = this.byHash.get(hash);
    if (known) return sameHash(known.hash, hash) ? known : undefined;
    const generation = this.generation;
    const found = await this.opts.store.keyByHash(hash);
    // Only when no reload started meanwhile: one might have dropped this key (revoked).
    if (found && generation === this.generation && !this.reload.busy) this.byHash.set(hash, found);
    return found;
  }

  used(key: StoredKey): void {
    this.uses.touch(key.id, this.opts.clock.now(), key.lastUsedAt);
  }

  async create(input: KeyCreate): Promise<{ stored: StoredKey; key: string }> {
    const now = this.opts.clock.now();
    const expiresAt = input.expires_at === undefined ? null : Date.parse(input.expires_at);
    if (expiresAt !== null && expiresAt <= now) {
      throw invalidRequest([{ field: 'expires_at', message: 'must be in the future' }]);
    }
    const { key, hash, prefix } = newKey(this.opts.random);
    const stored: StoredKey = {
      id: newId('key', this.opts.clock, this.opts.random),
      name: input.name,
      scopes: input.scopes,
      prefix,
      hash,
      createdAt: now,
      expiresAt,
      lastUsedAt: null,
    };
    await this.opts.store.createKey(stored);
    await this.reload();
    return { stored, key };
  }

  async list(): Promise<StoredKey[]> {
    return this.opts.store.listKeys();
  }

  /** Revokes a key: refused on this hub once this resolves, on the others once they hear of it. */
  async revoke(id: string): Promise<boolean> {
    const existed = await this.opts.store.revokeKey(id);
    this.uses.forget(id);
    await this.reload();
    return existed;
  }

  private flush(): Promise<void> {
    const batch = this.uses.take();
    if (batch.length === 0) return this.flushing;
    this.flushing = this.flushing
      .then(() => this.opts.store.recordKeysUsed(batch))
      .catch((err: unknown) => this.opts.logger.debug({ err }, 'API key uses could not be recorded'));
    return this.flushing;
  }
}

/** The map lookup found it by hash already; compared again in constant time all the same. */
function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}
