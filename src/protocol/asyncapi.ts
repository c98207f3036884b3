// The AsyncAPI 3.0 document of the WebSocket API (docs/protocol.md) and of GET /api/subscribe (§8), served at
// /api/asyncapi.json. Every payload is the JSON Schema of a zod schema of ws-frame-schemas.ts or http-bodies.ts,
// so the document changes with them. Operations are the broker's: it receives the client's frames and sends
// its own. Pure: the caller gives the version and the WebSocket path.
import { z } from 'zod';
import { SubscribeQuery } from './http-bodies.js';
import { CLIENT_FRAMES, SERVER_FRAMES, SSE_EVENTS } from './ws-frame-schemas.js';

export interface AsyncApiOptions {
  /** The package's version. */
  readonly version: string;
  /** Where the WebSocket API answers: `/ws` (docs/protocol.md). */
  readonly webSocketPath: string;
}

type Json = Record<string, unknown>;
type MessageName = keyof typeof CLIENT_FRAMES | keyof typeof SERVER_FRAMES | keyof typeof SSE_EVENTS;

const WS_CHANNEL = 'websocket';
const SSE_CHANNEL = 'subscribe';

// Each frame's one-line summary, shown by the tools beside its name.
const SUMMARIES: Readonly<Record<MessageName, string>> = {
  publish: 'Publish one message',
  publish_batch: 'Publish several messages, all or none',
  subscribe: 'Subscribe to a pattern',
  ack: 'Acknowledge deliveries',
  nack: 'Give a delivery back for redelivery',
  unsubscribe: 'End a subscription',
  ping: 'Ask whether the broker reads this connection',
  published: 'A publish is durable',
  published_batch: 'A batch is durable',
  scheduled: 'A delayed publish is stored',
  subscribed: 'A subscription is made',
  unsubscribed: 'A subscription has ended',
  pong: 'The answer to ping',
  error: 'A request failed, or the connection or a subscription is refused',
  message: 'A delivered message',
  sse_message: 'A message, as GET /api/messages shows it',
  sse_cloudevent: 'A message as a structured CloudEvent (format=cloudevents)',
  sse_error: 'The stream ends: its credential may no longer read it',
};

// The frame names of the messages that share a wire `type` with another, or have none.
const WIRE_NAMES: Partial<Record<MessageName, string>> = { published_batch: 'published', sse_message: 'message', sse_cloudevent: 'message', sse_error: 'error' };

// §5's frames as the tools show them; the tests hold each to its schema, and the client frames to the parser.
const EXAMPLES: Partial<Record<MessageName, readonly { readonly summary: string; readonly payload: Json }[]>> = {
  publish: [
    { summary: 'JSON payload, with a deduplication key', payload: { type: 'publish', id: 'p1', data: { topic: 'orders.created', payload: { id: 7 }, message_id: 'order-7' } } },
    { summary: 'appended to the log in a minute', payload: { type: 'publish', id: 'p2', data: { topic: 'reminders.due', payload: 'call back', delay_ms: 60_000 } } },
  ],
  publish_batch: [{ summary: 'two messages, kept an hour', payload: { type: 'publish_batch', id: 'b1', messages: [{ topic: 'orders.paid', payload: '7' }, { topic: 'audit.login', payload: 'ann' }], ttl: 3600 } }],
  subscribe: [
    { summary: 'live from the head', payload: { type: 'subscribe', id: 's1', pattern: 'orders.*' } },
    { summary: 'a member of a durable consumer, replaying from seq 1', payload: { type: 'subscribe', id: 's2', pattern: ['orders.#', 'refunds.*'], consumer: 'billing', group: 'workers', starting_seq: 1, max_in_flight: 32, backoff_ms: [1000, 5000] } },
  ],
  ack: [
    { summary: 'one delivery', payload: { type: 'ack', subscription: 'sub-2', seq: 42 } },
    { summary: 'several', payload: { type: 'ack', subscription: 'sub-2', seqs: [43, 44] } },
  ],
  nack: [{ summary: 'redeliver in 5 s', payload: { type: 'nack', subscription: 'sub-2', seq: 42, delay_ms: 5000 } }],
  unsubscribe: [{ summary: 'end sub-1', payload: { type: 'unsubscribe', id: 'u1', subscription: 'sub-1' } }],
  ping: [{ summary: 'ping', payload: { type: 'ping', id: 'k1' } }],
  published: [{ summary: 'seq 42', payload: { type: 'published', id: 'p1', seq: 42, message_id: 'order-7' } }],
  published_batch: [{ summary: 'seqs 43 and 44', payload: { type: 'published', id: 'b1', seqs: [43, 44], message_ids: [null, null] } }],
  scheduled: [{ summary: 'stored for later', payload: { type: 'scheduled', id: 'p2', schedule_id: '0b7e5c1e-8d7c-4e43-9a55-1f0c2a3d4e5f', deliver_at: 1_796_299_260_000, message_id: null } }],
  subscribed: [{ summary: 'sub-1 made', payload: { type: 'subscribed', id: 's1', subscription: 'sub-1', head_seq: 44 } }],
  unsubscribed: [{ summary: 'sub-1 ended', payload: { type: 'unsubscribed', id: 'u1', subscription: 'sub-1' } }],
  pong: [{ summary: 'pong', payload: { type: 'pong', id: 'k1' } }],
  error: [{ summary: 'a bad topic', payload: { type: 'error', id: 'p3', code: 'BAD_TOPIC', message: 'topic "orders..created" has an empty segment' } }],
  message: [
    {
      summary: 'first delivery of seq 42',
      payload: {
        type: 'message',
        subscription: 'sub-1',
        seq: 42,
        message_id: 'order-7',
        topic: 'orders.created',
        payload: '{"id":7}',
        metadata: { timestamp: 1_796_299_200_000, content_type: 'application/json' },
        delivery: 1,
      },
    },
  ],
};

const ref = (path: string): Json => ({ $ref: `#/${path}` });
const wsMessage = (name: MessageName): Json => ref(`channels/${WS_CHANNEL}/messages/${name}`);
const sseMessage = (name: MessageName): Json => ref(`channels/${SSE_CHANNEL}/messages/${name}`);

/**
 * A zod schema as a message payload. Schemas zod names by id (`.meta({id})`, those of http-bodies.ts) come out
 * as `definitions` of their own; they go to components.schemas, shared by every payload that uses them.
 */
function payloadOf(schema: z.ZodType, shared: Json, io: 'input' | 'output' = 'output'): Json {
  const { $schema: _, definitions, ...json } = z.toJSONSchema(schema, { target: 'draft-07', io }) as Json;
  for (const [name, definition] of Object.entries((definitions ?? {}) as Json)) {
    const moved = toComponents(definition);
    // Two different schemas under one id would make the document say one thing of both: a bug.
    if (name in shared && JSON.stringify(shared[name]) !== JSON.stringify(moved)) throw new Error(`two schemas are named ${name}`);
    shared[name] = moved;
  }
  return toComponents(json) as Json;
}

/** The same JSON with its `#/definitions/` refs pointing into components.schemas. */
function toComponents(json: unknown): unknown {
  if (Array.isArray(json)) return json.map(toComponents);
  if (typeof json !== 'object' || json === null) return json;
  const out: Json = {};
  for (const [key, value] of Object.entries(json)) {
    out[key] = key === '$ref' && typeof value === 'string' ? value.replace(/^#\/definitions\//, '#/components/schemas/') : toComponents(value);
  }
  return out;
}

// Every WebSocket frame but a delivery may carry the id that pairs a request with its answer.
const CORRELATION_ID = { description: "a request's id, echoed by its answer", location: '$message.payload#/id' };
const isCorrelated = (name: MessageName): boolean => (name in CLIENT_FRAMES || name in SERVER_FRAMES) && name !== 'message';

function messageOf(name: MessageName, schema: z.ZodType, shared: Json): Json {
  const payload = payloadOf(schema, shared);
  const description = schema.description;
  return {
    name: WIRE_NAMES[name] ?? name,
    title: name,
    summary: SUMMARIES[name],
    ...(description === undefined ? {} : { description }),
    contentType: 'application/json',
    ...(isCorrelated(name) ? { correlationId: CORRELATION_ID } : {}),
    payload,
    ...(EXAMPLES[name] === undefined ? {} : { examples: EXAMPLES[name] }),
  };
}

/** A receive operation for a client frame, with its answers when it has some. */
function request(name: keyof typeof CLIENT_FRAMES, description: string, replies: readonly MessageName[]): Json {
  return {
    action: 'receive',
    channel: ref(`channels/${WS_CHANNEL}`),
    summary: SUMMARIES[name],
    description,
    messages: [wsMessage(name)],
    ...(replies.length === 0 ? {} : { reply: { channel: ref(`channels/${WS_CHANNEL}`), messages: replies.map(wsMessage) } }),
  };
}

const TOKEN_QUERY = { token: { type: 'string', description: 'the token, when not sent as Authorization: Bearer <token>' } };

export function asyncApiDocument(options: AsyncApiOptions): Json {
  const schemas: Json = {};
  const messages: Json = {};
  for (const [name, schema] of Object.entries(CLIENT_FRAMES)) messages[name] = messageOf(name as MessageName, schema, schemas);
  for (const [name, schema] of Object.entries(SERVER_FRAMES)) messages[name] = messageOf(name as MessageName, schema, schemas);
  for (const [name, { schema, description }] of Object.entries(SSE_EVENTS)) {
    messages[name] = { ...messageOf(name as MessageName, schema, schemas), description };
  }
  const wsNames = [...Object.keys(CLIENT_FRAMES), ...Object.keys(SERVER_FRAMES)];
  const sseNames = Object.keys(SSE_EVENTS) as MessageName[];
  const security = [ref('components/securitySchemes/bearer'), ref('components/securitySchemes/token')];
  const host = {
    default: '127.0.0.1:3000',
    description: 'the broker: EVENTBUS_HOST and EVENTBUS_HTTP_PORT (default 127.0.0.1:3000)',
  };
  const sseQuery = payloadOf(SubscribeQuery, schemas, 'input');
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'eventbus WebSocket API and event stream',
      version: options.version,
      description:
        `The WebSocket API at ${options.webSocketPath} (docs/protocol.md): JSON text frames with a \`type\`; a request may carry an \`id\`, which its answer carries. ` +
        'And GET /api/subscribe, the log as Server-Sent Events (docs/http-api.md). Operations are the broker\'s: it receives the client\'s frames and sends its own. ' +
        'The HTTP API is described in /api/openapi.json. Auth: with EVENTBUS_TOKEN set or a credential stored, `Authorization: Bearer <token>` or `?token=` on the upgrade or the request (docs/security.md).',
    },
    defaultContentType: 'application/json',
    servers: {
      websocket: {
        host: '{host}',
        protocol: 'ws',
        description: 'The WebSocket API; wss:// when EVENTBUS_TLS_CERT and EVENTBUS_TLS_KEY are set',
        variables: { host },
        security,
      },
      http: {
        host: '{host}',
        protocol: 'http',
        description: 'The HTTP port, the same as the WebSocket API\'s; https:// when EVENTBUS_TLS_CERT and EVENTBUS_TLS_KEY are set',
        variables: { host },
        security,
      },
    },
    channels: {
      [WS_CHANNEL]: {
        address: options.webSocketPath,
        title: 'The WebSocket API',
        description:
          'One connection carries requests, their answers and deliveries, in both directions. A bad frame is answered with an `error` and never closes the connection, ' +
          'but for one over EVENTBUS_MAX_FRAME bytes, which the WebSocket layer closes with 1009 unread. ' +
          'A refused token is answered with an `error` (UNAUTHORIZED) and close code 1008; one connection past EVENTBUS_MAX_CONNECTIONS with an `error` (UNAVAILABLE) and close code 1013.',
        servers: [ref('servers/websocket')],
        messages: Object.fromEntries(wsNames.map((name) => [name, ref(`components/messages/${name}`)])),
        bindings: { ws: { method: 'GET', query: { type: 'object', properties: TOKEN_QUERY }, bindingVersion: '0.1.0' } },
      },
      [SSE_CHANNEL]: {
        address: '/api/subscribe',
        title: 'The log as Server-Sent Events',
        description:
          'GET /api/subscribe?pattern=&from_seq=&from_time=&format=: the catch-up, then live. Each message is an event `id: <seq>`, `event: message`, `data: <JSON>`; ' +
          'a reconnect with `Last-Event-ID: <seq>` resumes right after that seq (no gap, no duplicate) and wins over from_seq and from_time; without any of them the stream starts at the head. ' +
          'Comment lines (`: subscribed head_seq=<n>` first, then `: keep-alive` every 15 s) carry no event.',
        servers: [ref('servers/http')],
        messages: Object.fromEntries(sseNames.map((name) => [name, ref(`components/messages/${name}`)])),
      },
    },
    operations: {
      publish: request('publish', 'Answered once the message is durable in the log; a delayed one once its schedule is stored.', ['published', 'scheduled', 'error']),
      publishBatch: request('publish_batch', 'All or none are stored.', ['published_batch', 'error']),
      subscribe: request('subscribe', 'The `message` frames of the subscription follow its answer.', ['subscribed', 'error']),
      ack: request('ack', 'No answer; an `error` (UNKNOWN_SUBSCRIPTION) when the subscription is not one of this connection.', []),
      nack: request('nack', 'No answer; an `error` (UNKNOWN_SUBSCRIPTION) when the subscription is not one of this connection.', []),
      unsubscribe: request('unsubscribe', 'Answered once the subscription has ended.', ['unsubscribed', 'error']),
      ping: request('ping', 'Answered at once.', ['pong']),
      deliver: {
        action: 'send',
        channel: ref(`channels/${WS_CHANNEL}`),
        summary: SUMMARIES.message,
        description: 'Each message a subscription matches, in seq order; `delivery` counts the attempts.',
        messages: [wsMessage('message')],
      },
      endSubscription: {
        action: 'send',
        channel: ref(`channels/${WS_CHANNEL}`),
        summary: 'The broker ends a subscription itself',
        description: 'An `unsubscribed` frame with a reason and no id.',
        messages: [wsMessage('unsubscribed')],
      },
      refuse: {
        action: 'send',
        channel: ref(`channels/${WS_CHANNEL}`),
        summary: 'An error no request asked for',
        description: 'A frame that could not be read far enough to find its id, a refused connection, an ack or nack of an unknown subscription, or a subscription its credential may no longer read (FORBIDDEN).',
        messages: [wsMessage('error')],
      },
      streamEvents: {
        action: 'send',
        channel: ref(`channels/${SSE_CHANNEL}`),
        summary: 'The events of GET /api/subscribe',
        description: 'A `message` event per message (its data the message, or with format=cloudevents a structured CloudEvent); an `error` event ends the stream.',
        messages: sseNames.map(sseMessage),
        bindings: {
          http: {
            method: 'GET',
            query: { ...sseQuery, properties: { ...(sseQuery['properties'] as Json), ...TOKEN_QUERY } },
            bindingVersion: '0.3.0',
          },
        },
      },
    },
    components: {
      messages,
      schemas,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <token>: EVENTBUS_TOKEN, or a credential\'s token (docs/security.md)' },
        token: { type: 'httpApiKey', in: 'query', name: 'token', description: 'the token as ?token=, for clients that cannot set headers (a browser\'s WebSocket and EventSource)' },
      },
    },
  };
}
