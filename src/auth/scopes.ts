/**
 * The scopes of API keys (docs/protocol.md, API keys) and what each one allows: the one table
 * every HTTP route (its `config.doc.scope`) and every WebSocket operation is judged by.
 */
export const SCOPES = ['publish', 'read', 'subscriptions', 'tokens', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** The scopes a scope includes besides itself: `admin` is everything, `subscriptions` reads too. */
const INCLUDES: Record<Scope, readonly Scope[]> = {
  publish: [],
  read: [],
  subscriptions: ['read'],
  tokens: [],
  admin: SCOPES,
};

/** Whether a key holding `held` may do what needs `needed`. */
export function grants(held: Iterable<Scope>, needed: Scope): boolean {
  for (const scope of held) if (scope === needed || INCLUDES[scope].includes(needed)) return true;
  return false;
}

/**
 * What a key needs for each WebSocket operation (`null`: nothing beyond an open connection).
 * A token is judged by its grants instead: `channels` for subscribe and presence, `publish`
 * for publish. Every client op must be here (ws-session.ts checks it at compile time).
 */
export const WS_OP_SCOPES = {
  subscribe: 'read',
  presence: 'read',
  publish: 'publish',
  unsubscribe: null,
  ping: null,
} as const satisfies Record<string, Scope | null>;
export type WsOp = keyof typeof WS_OP_SCOPES;
