import { envelopeSchema } from '../domain/envelope.js';
import { operationalEventSchemas } from '../domain/operational.js';
import { clientFrameSchemas, serverFrameSchemas } from '../realtime/frames.js';
import { sseResetSchema } from '../realtime/sse.js';
import { namedSchemas, referencedIds, schemaId } from './json-schema.js';
import type { ReferenceInfo } from './openapi.js';

type Json = Record<string, unknown>;
type Named = { schema: Parameters<typeof schemaId>[0]; summary: string };

const PREFIX = '#/components/schemas/';
const ref = (id: string): string => `${PREFIX}${id}`;

const CLIENT: Record<keyof typeof clientFrameSchemas, string> = {
  subscribe: 'Subscribe to a channel, from now on or after a cursor',
  unsubscribe: 'Stop receiving a channel',
  publish: 'Publish an event (answered with ack once durably committed)',
  ping: 'Check the connection (answered with pong)',
  presence: 'Ask who is on a channel (answered with presence)',
};
const SERVER: Record<keyof typeof serverFrameSchemas, string> = {
  subscribed: 'The subscription is open; with resumed: true every event after the cursor follows, then live ones',
  event: 'One event of a subscribed channel',
  unsubscribed: 'The subscription is closed',
  ack: 'A publish is durably committed',
  pong: 'The answer to ping',
  presence: 'The members of a channel (the answer to presence, or unasked when the member limit is crossed)',
  join: 'A member joined a channel subscribed with presence: true',
  leave: 'A member left a channel subscribed with presence: true (after the grace)',
  error: 'A frame was refused; the connection stays open',
};

/**
 * The message name of a hub → client frame: its op, or `<op>Reply` when a client frame has
 * the same op (`presence` goes both ways), since messages of one channel need distinct names.
 */
export function serverMessageName(op: string): string {
  return Object.hasOwn(clientFrameSchemas, op) ? `${op}Reply` : op;
}

function message(name: string, { schema, summary }: Named): Json {
  const id = schemaId(schema);
  if (!id) throw new Error(`the ${name} message needs a named schema (.meta({ id }))`);
  return { name, title: name, summary, contentType: 'application/json', payload: { $ref: ref(id) } };
}

/**
 * The AsyncAPI 3.0 document of `GET /v1/ws` (both directions) and the SSE stream, with the
 * hub at `host` (`host[:port]`, as the client reached it).
 */
export function buildAsyncApi(info: ReferenceInfo, host: string): Json {
  const wsIn = Object.fromEntries(Object.entries(CLIENT).map(([op, summary]) => [op, message(op, { schema: clientFrameSchemas[op as keyof typeof CLIENT], summary })]));
  const wsOut = Object.fromEntries(Object.entries(SERVER).map(([op, summary]) => [serverMessageName(op), message(serverMessageName(op), { schema: serverFrameSchemas[op as keyof typeof SERVER], summary })]));
  const sse = {
    sseEvent: {
      ...message('sseEvent', { schema: envelopeSchema, summary: 'One event: `id: <cursor>`, `data: <envelope JSON>`' }),
      description: 'The message id is the cursor: EventSource sends it back as Last-Event-ID when it reconnects. Comment heartbeats (`: heartbeat`) come every 15 s.',
    },
    sseReset: {
      ...message('sseReset', { schema: sseResetSchema, summary: '`event: reset`: the requested position is gone' }),
      description: 'The first message when the cursor asked for is expired or from another database; the stream goes on from `cursor`.',
    },
  };
  // The hub's own events: on the $hub. channels, carried like any event (WebSocket event frames,
  // SSE, polling, webhooks), with these envelopes.
  const hub = {
    subscriptionEvent: message('subscriptionEvent', { schema: operationalEventSchemas.subscriptions, summary: 'An event of $hub.subscriptions' }),
    deliveryEvent: message('deliveryEvent', { schema: operationalEventSchemas.deliveries, summary: 'An event of $hub.deliveries' }),
    channelEvent: message('channelEvent', { schema: operationalEventSchemas.channels, summary: 'An event of $hub.channels' }),
    testEvent: message('testEvent', { schema: operationalEventSchemas.test, summary: 'A test event of $hub.test' }),
  };
  const messages = { ...wsIn, ...wsOut, ...sse, ...hub };
  const all = namedSchemas('draft-07', ref);
  const used = referencedIds(messages, all, PREFIX);
  const schemas = Object.fromEntries([...used].sort().map((id) => [id, all[id]]));
  const channelMessages = (names: string[]): Json => Object.fromEntries(names.map((n) => [n, { $ref: `#/components/messages/${n}` }]));
  const operation = (action: 'send' | 'receive', channel: string, names: string[], summary: string): Json => ({
    action,
    summary,
    channel: { $ref: `#/channels/${channel}` },
    messages: names.map((n) => ({ $ref: `#/channels/${channel}/messages/${n}` })),
  });
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'pushhub realtime',
      version: info.version,
      description:
        'The WebSocket protocol of GET /v1/ws (text frames, one JSON object each) and the Server-Sent Events stream of a channel, ' +
        'described from the hub: it receives the client frames and sends the rest. Close codes: 4001 token missing, invalid or expired; ' +
        '4008 slow consumer (reconnect and resume from the last cursor); 1001 hub shutting down; 1009 frame too large. ' +
        'The hub pings every 30 s and drops a peer that misses two pongs. The HTTP API is described by /openapi.json.',
      license: { name: 'MIT' },
    },
    defaultContentType: 'application/json',
    servers: {
      websocket: {
        host,
        protocol: 'ws',
        description: 'The hub (wss behind a TLS proxy).',
        security: [{ $ref: '#/components/securitySchemes/bearer' }, { $ref: '#/components/securitySchemes/tokenQuery' }],
      },
      http: {
        host,
        protocol: 'http',
        description: 'The hub, for Server-Sent Events (https behind a TLS proxy).',
        security: [{ $ref: '#/components/securitySchemes/bearer' }, { $ref: '#/components/securitySchemes/tokenQuery' }],
      },
    },
    channels: {
      ws: {
        address: '/v1/ws',
        title: 'WebSocket',
        description: 'One connection carries any number of channel subscriptions (100 by default).',
        servers: [{ $ref: '#/servers/websocket' }],
        messages: channelMessages([...Object.keys(wsIn), ...Object.keys(wsOut)]),
        bindings: {
          ws: {
            method: 'GET',
            query: {
              type: 'object',
              properties: { token: { type: 'string', description: 'The API key or a subscriber token (browsers cannot set headers on a WebSocket).' } },
            },
          },
        },
      },
      sse: {
        address: '/v1/channels/{channel}/sse',
        title: 'Server-Sent Events',
        description: 'Resume with Last-Event-ID or ?after=<cursor>; no event is skipped or repeated.',
        servers: [{ $ref: '#/servers/http' }],
        parameters: { channel: { description: 'The channel to stream.' } },
        messages: channelMessages(Object.keys(sse)),
      },
      operational: {
        address: '$hub.{name}',
        title: 'Operational events',
        description:
          'The hub publishes events about itself on $hub.subscriptions, $hub.deliveries and $hub.channels ($hub.test carries test events). ' +
          'Read them like any channel (WebSocket subscribe, SSE, polling) with a read key or a token whose channels name a $hub. pattern ' +
          '(a pattern that does not start with $ never matches them); a webhook subscription gets them when its channels name them, never about itself. ' +
          'Nobody may publish there. Each is written in the transaction of the change it reports.',
        parameters: { name: { description: 'subscriptions, deliveries, channels or test.' } },
        messages: channelMessages(Object.keys(hub)),
      },
    },
    operations: {
      receiveClientFrames: operation('receive', 'ws', Object.keys(wsIn), 'Frames the client sends'),
      sendServerFrames: operation('send', 'ws', Object.keys(wsOut), 'Frames the hub sends'),
      sendSseMessages: operation('send', 'sse', Object.keys(sse), 'Messages of the stream'),
      sendOperationalEvents: operation('send', 'operational', Object.keys(hub), 'The hub’s events about itself'),
    },
    components: {
      schemas,
      messages,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <API key or subscriber token>.' },
        tokenQuery: { type: 'httpApiKey', in: 'query', name: 'token', description: 'The API key or a subscriber token as ?token=.' },
      },
    },
  };
}
