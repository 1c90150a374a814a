import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { addressKind } from '../domain/addresses.js';
import { HubError, invalidRequest } from '../errors.js';

const MAX_URL_LENGTH = 2048;

/** How an operator lets receivers on this machine or a private network in. */
const ALLOW_PRIVATE_HINT =
  'set PUSHHUB_ALLOW_PRIVATE_URLS=true (or start the hub with --allow-private-urls) to allow receivers on this machine or a private network.';

/** Thrown (at connection time) when a receiver resolves to a non-public address. */
export class BlockedAddressError extends Error {
  readonly code = 'ERR_PUSHHUB_URL_NOT_ALLOWED';
  constructor(hostname: string, address: string, kind: string) {
    super(`${hostname} resolves to ${kind} address ${address}`);
    this.name = 'BlockedAddressError';
  }
}

/** `[::1]` → `::1`: URL keeps the brackets of an IPv6 host. */
export function bareHost(hostname: string): string {
  return hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
}

/** The non-public address among a host's addresses, if any. */
function firstBlocked(hostname: string, addresses: readonly LookupAddress[]): BlockedAddressError | undefined {
  for (const { address } of addresses) {
    const kind = addressKind(address);
    if (kind) return new BlockedAddressError(hostname, address, kind);
  }
  return undefined;
}

/**
 * A receiver URL as the API accepts it: absolute http(s), no credentials, no fragment.
 * Throws `400 invalid_request` naming the field otherwise.
 */
export function parseReceiverUrl(text: string, field = 'url'): URL {
  const problem = (message: string): HubError => invalidRequest([{ field, message }]);
  if (text.length > MAX_URL_LENGTH) throw problem(`must be at most ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw problem('is not an absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw problem('must be an http or https URL');
  if (url.username || url.password) throw problem('must not carry credentials; authenticate receivers by signature');
  if (url.hash) throw problem('must not have a #fragment');
  return url;
}

/**
 * Refuses (`400 url_not_allowed`) a URL whose host is, or resolves to, a loopback, private,
 * link-local or otherwise non-public address. A name that does not resolve (yet) is let
 * through: the same check runs again on every connection.
 */
export async function assertPublicUrl(url: URL, resolve = dnsLookup): Promise<void> {
  const host = bareHost(url.hostname);
  // A receiver on the hub's own machine is the first thing a new user tries, so the
  // message names the way out rather than only the reason.
  const refuse = (err: BlockedAddressError): HubError =>
    new HubError('url_not_allowed', {
      message: `The URL is not allowed: ${err.message}; ${ALLOW_PRIVATE_HINT}`,
      details: { field: 'url' },
    });
  if (isIP(host)) {
    const kind = addressKind(host);
    if (kind) throw refuse(new BlockedAddressError(host, host, kind));
    return;
  }
  const addresses = await new Promise<LookupAddress[]>((done) => {
    resolve(host, { all: true }, (err, found) => done(err ? [] : found));
  });
  const blocked = firstBlocked(host, addresses);
  if (blocked) throw refuse(blocked);
}

/** The reason a literal-IP host may not be connected to, or undefined (names are checked on lookup). */
export function blockedLiteral(hostname: string): BlockedAddressError | undefined {
  const host = bareHost(hostname);
  const kind = isIP(host) ? addressKind(host) : null;
  return kind ? new BlockedAddressError(host, host, kind) : undefined;
}

/**
 * A DNS lookup for outgoing connections that fails when any address of the name is not
 * public, so a name cannot be pointed at an internal host after the subscription was
 * accepted (DNS rebinding). Refusing on any bad address, not only the chosen one, keeps a
 * mixed answer from slipping through on a retry.
 */
export const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '', 0);
    const blocked = firstBlocked(hostname, addresses);
    if (blocked) return callback(blocked as unknown as NodeJS.ErrnoException, '', 0);
    if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
    const first = addresses[0]!;
    callback(null, first.address, first.family);
  });
};
