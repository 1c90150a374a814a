import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Random } from '../clock.js';
import { SCOPES, type Scope } from './scopes.js';

/** Every API key the hub issues starts so: easy to spot in a leaked file, and to scan for. */
export const KEY_PREFIX = 'phk_';
/** `phk_` + 32 random bytes, base64url (43 characters, no padding). */
const KEY_RE = /^phk_[A-Za-z0-9_-]{43}$/;
/** Characters of the key shown to tell keys apart (`phk_` and six more): too few to guess from. */
const DISPLAY_CHARS = KEY_PREFIX.length + 6;

/** An API key as the store keeps it: never the key itself, only its hash and a prefix. */
export interface StoredKey {
  id: string;
  name: string;
  scopes: Scope[];
  /** The first characters of the key, for people to recognise it. */
  prefix: string;
  /** SHA-256 of the key, hex. */
  hash: string;
  /** epoch ms */
  createdAt: number;
  /** epoch ms; null: never expires */
  expiresAt: number | null;
  /** epoch ms, to the minute; null: never used */
  lastUsedAt: number | null;
}

/** A new key: the value to show once, and what is stored of it. */
export function newKey(random: Random): { key: string; hash: string; prefix: string } {
  const key = KEY_PREFIX + random.bytes(32).toString('base64url');
  return { key, hash: hashKey(key), prefix: key.slice(0, DISPLAY_CHARS) };
}

/** Whether a credential has the shape of an issued key (anything else is not looked up). */
export function isKeyShaped(credential: string): boolean {
  return KEY_RE.test(credential);
}

/** SHA-256, hex: keys are 256 random bits, so a fast hash is enough (no password stretching). */
export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Whether a key has expired at `now` (epoch ms): from its `expires_at` on, it is refused. */
export function isExpired(key: Pick<StoredKey, 'expiresAt'>, now: number): boolean {
  return key.expiresAt !== null && key.expiresAt <= now;
}

export const scopeSchema = z.enum(SCOPES);

/** The body of `POST /v1/keys`. */
export const keyCreateSchema = z
  .strictObject({
    name: z.string().min(1, 'must not be empty').max(128, 'must be at most 128 characters'),
    scopes: z
      .array(scopeSchema)
      .min(1, 'must hold at least one scope')
      .refine((s) => new Set(s).size === s.length, 'must not repeat a scope'),
    expires_at: z.iso.datetime({ offset: true }).optional().meta({ description: 'From then on the key is refused (401). Omitted: never.' }),
  })
  .meta({ id: 'KeyCreate' });
export type KeyCreate = z.output<typeof keyCreateSchema>;

const keyFields = {
  id: z.string().meta({ description: 'key_…' }),
  name: z.string(),
  scopes: z.array(scopeSchema),
  prefix: z.string().meta({ description: 'The first characters of the key, to recognise it (a pushhub addition).' }),
  created_at: z.iso.datetime(),
  expires_at: z.iso.datetime().nullable(),
  last_used_at: z.iso.datetime().nullable().meta({ description: 'Recorded at most once a minute per key.' }),
};
export const keyViewSchema = z.strictObject(keyFields).meta({ id: 'Key' });
export const keyCreatedSchema = z
  .strictObject({ ...keyFields, key: z.string().meta({ description: 'phk_…: shown only here; the hub keeps only its hash.' }) })
  .meta({ id: 'KeyCreated' });
export const keyListSchema = z.strictObject({ keys: z.array(keyViewSchema) }).meta({ id: 'KeyList' });

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** A key as the API shows it (never its hash). */
export function keyView(k: StoredKey): z.output<typeof keyViewSchema> {
  return {
    id: k.id,
    name: k.name,
    scopes: k.scopes,
    prefix: k.prefix,
    created_at: new Date(k.createdAt).toISOString(),
    expires_at: iso(k.expiresAt),
    last_used_at: iso(k.lastUsedAt),
  };
}

/** `last_used_at` is written at most this often per key. */
export const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * Gathers key uses between writes: a key is due for a write when its last recorded use is
 * at least a minute old, and is written once per batch however often it was used.
 */
export class LastUsedBatch {
  private readonly recorded = new Map<string, number>();
  private pending = new Map<string, number>();

  /** A use of key `id` at `now`; `known` is the `last_used_at` the store had for it. */
  touch(id: string, now: number, known: number | null): void {
    const last = this.recorded.get(id) ?? known ?? -Infinity;
    if (now - last < LAST_USED_RESOLUTION_MS) return;
    this.recorded.set(id, now);
    this.pending.set(id, now);
  }

  /** The uses to write now (each key once), emptied. */
  take(): Array<{ id: string; at: number }> {
    const out = [...this.pending].map(([id, at]) => ({ id, at }));
    this.pending = new Map();
    return out;
  }

  /** A key gone: nothing more to write for it. */
  forget(id: string): void {
    this.recorded.delete(id);
    this.pending.delete(id);
  }
}
