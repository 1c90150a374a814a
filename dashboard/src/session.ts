import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import { ApiError, apiClient, ok, type Api, type Scope } from './api/client';

const STORAGE_KEY = 'pushhub.dashboard.key';

/** Which routes of the contract this hub has (from its /openapi.json): parts built ahead of the hub's own. */
export interface Features {
  replay: boolean;
  testEvent: boolean;
  tasks: boolean;
  presence: boolean;
  /** Operational events ($hub.* channels) ship with replay and tasks. */
  operationalEvents: boolean;
}

export interface Session {
  key: string;
  api: Api;
  scopes: Scope[];
  /** May create, change and delete subscriptions, redrive and retry. */
  canWrite: boolean;
  /** May create and revoke keys. */
  isAdmin: boolean;
  /** May mint subscriber tokens: the live parts use the WebSocket (else they poll). */
  canMintTokens: boolean;
  features: Features;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside a signed-in page');
  return session;
}

/**
 * Signs in: the key must read (GET /v1/keys needs `read`). Its scopes are those of the listed
 * key whose prefix it starts with; a working key that is not listed is the root key (admin).
 * No probe that could change anything, and nothing that fails on purpose.
 */
export async function signIn(key: string): Promise<Session> {
  const api = apiClient(key);
  const { keys } = await ok(api.GET('/v1/keys')).catch((err: unknown) => {
    if (err instanceof ApiError && err.status === 401) throw new Error('this API key is unknown, revoked or expired.');
    if (err instanceof ApiError && err.status === 403) throw new Error('this API key cannot read (the dashboard needs scope read).');
    throw err;
  });
  const mine = keys.find((k) => key.startsWith(k.prefix));
  const scopes: Scope[] = mine ? mine.scopes : ['admin'];
  const has = (s: Scope): boolean => scopes.includes(s) || scopes.includes('admin');
  sessionStorage.setItem(STORAGE_KEY, key);
  return { key, api, scopes, canWrite: has('subscriptions'), isAdmin: has('admin'), canMintTokens: has('tokens'), features: await features() };
}

export function storedKey(): string | null {
  return sessionStorage.getItem(STORAGE_KEY);
}

export function signOut(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}

async function features(): Promise<Features> {
  const doc = (await (await fetch('/openapi.json')).json()) as { paths: Record<string, unknown> };
  const has = (path: string): boolean => path in doc.paths;
  return {
    replay: has('/v1/subscriptions/{id}/replay'),
    testEvent: has('/v1/subscriptions/{id}/test'),
    tasks: has('/v1/tasks/{id}'),
    presence: has('/v1/channels/{channel}/presence'),
    operationalEvents: has('/v1/tasks/{id}'),
  };
}
