import createClient, { type Client } from 'openapi-fetch';
import type { components, paths } from './schema';

export type Schemas = components['schemas'];
export type Subscription = Schemas['Subscription'];
export type Delivery = Schemas['Delivery'];
export type DeliveryDetail = Schemas['DeliveryDetail'];
export type Envelope = Schemas['Envelope'];
export type EventStatus = Schemas['EventStatus'];
export type Key = Schemas['Key'];
export type Task = Schemas['Task'];
export type Scope = Key['scopes'][number];
export type Api = Client<paths>;

/** A refusal by the hub, in its error shape: `code` is the contract, `message` is for people. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The typed client of the hub this page came from, every request with the key's Authorization header. */
export function apiClient(key: string): Api {
  const client = createClient<paths>({ baseUrl: location.origin });
  client.use({
    onRequest({ request }) {
      request.headers.set('authorization', `Bearer ${key}`);
      return request;
    },
  });
  return client;
}

/** The data of a successful call; an ApiError otherwise. */
export async function ok<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) throw toApiError(response.status, error);
  return data as T;
}

function toApiError(status: number, body: unknown): ApiError {
  const err = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
  return new ApiError(status, err?.code ?? 'http_error', err?.message ?? `The hub answered ${status}.`);
}

