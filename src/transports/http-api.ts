// The HTTP API (PROTOCOL.md §8) as a Hono application: every route validated by the zod schemas of
// protocol/http-bodies.ts, which also make the OpenAPI document at /api/openapi.json. A thin adapter: each
// route reads its request, calls the broker (or the registration commands, which push delivery follows)
// and writes the answer; errors are `{code, message}` with the status of their code.
import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { createRoute, OpenAPIHono, type z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { errAsync, ok, okAsync, type Result, type ResultAsync } from 'neverthrow';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { Broker, ConsumerInfo, ConsumerReport } from '../core/broker.js';
import type { StartAt } from '../core/types.js';
import { brokerError, type BrokerError } from '../errors.js';
import type { Logger } from '../logger.js';
import { parseAddress } from '../protocol/address.js';
import * as b from '../protocol/http-bodies.js';
import { checkPattern, checkPatterns } from '../protocol/topics.js';
import { hasToken, RefusalLog, UNAUTHORIZED_MESSAGE } from './auth.js';
import type { RegistrationCommands } from './registration.js';
import { SseStream } from './sse.js';
import { StatsStreams } from './stats-stream.js';

// How often GET /api/stats/stream sends the figures: the rates are sampled once a second too.
const STATS_STREAM_INTERVAL_MS = 1000;

export type HttpEnv = { Bindings: Partial<HttpBindings> };

export interface HttpApiOptions {
  readonly nodeId: string;
  readonly token: string | undefined;
  /** Largest request body read; a longer one is refused with TOO_LARGE unread. */
  readonly maxBodyBytes: number;
  /** Rows of the log one page of GET /api/messages reads at most. */
  readonly scanRows: number;
  /** An event stream's unsent bytes before its subscription pauses. */
  readonly bufferBytes: number;
  /** How a consumer's deliveries are going: paused, connected, retrying, offline. */
  readonly stateOf: (consumer: ConsumerInfo) => string;
  /** Open connections by front-end, for /api/stats. */
  readonly connections: () => Record<string, number>;
}

/** The event streams open on an API: ended by the front-end when it stops. */
export interface EventStreams {
  readonly size: number;
  closeAll(): void;
}

const json = <T extends z.ZodType>(schema: T, description: string) => ({ content: { 'application/json': { schema } }, description });
const body = <T extends z.ZodType>(schema: T, required = true) => ({ body: { content: { 'application/json': { schema } }, required } });

const ERROR_DESCRIPTIONS = {
  400: 'BAD_*: the request is not one the API takes',
  401: 'UNAUTHORIZED: EVENTBUS_TOKEN is set and the request does not carry it',
  404: 'UNKNOWN_*: no such consumer or message',
  413: 'TOO_LARGE: a body over EVENTBUS_HTTP_MAX_BODY or a payload over EVENTBUS_MAX_PAYLOAD',
  503: 'UNAVAILABLE: the database cannot be written now, or the broker is stopping',
} as const;
type ErrorStatus = keyof typeof ERROR_DESCRIPTIONS;

function errors<S extends ErrorStatus>(...statuses: S[]): Record<S | 401 | 503, ReturnType<typeof json<typeof b.ErrorBody>>> {
  const all = [...new Set<ErrorStatus>([...statuses, 401, 503])];
  return Object.fromEntries(all.map((s) => [s, json(b.ErrorBody, ERROR_DESCRIPTIONS[s])])) as Record<S | 401 | 503, ReturnType<typeof json<typeof b.ErrorBody>>>;
}

/**
 * The answer to a broker error. Typed `never` so that a route's handler may return it whatever its declared
 * answers: the status comes from the code, which the route's `errors(...)` lists for the document.
 */
function fail(c: Context, e: BrokerError): never {
  return c.json({ code: e.code, message: e.message }, b.httpStatusOf(e.code)) as never;
}

const id = (c: { req: { valid(target: 'param'): { id: string } } }): string => c.req.valid('param').id;

/**
 * The API's routes under /api, behind the token check; a caller adds its own routes after it (they are checked
 * too). A request no route takes is answered 405 with Allow when another method would take it, else 404.
 */
export function createApiApp(broker: Broker, commands: RegistrationCommands, options: HttpApiOptions, logger: Logger): { app: OpenAPIHono<HttpEnv>; streams: EventStreams } {
  const log = logger.child({ transport: 'http' });
  const app = new OpenAPIHono<HttpEnv>({
    defaultHook: (result, c) => {
      if (!result.success) return c.json({ code: 'BAD_ARGS' as const, message: b.describeIssues(result.error) }, 400);
      return undefined;
    },
  });
  const refusals = new RefusalLog(log);
  app.use('*', async (c, next) => {
    if (!hasToken(c.req.header('authorization'), c.req.url, options.token)) {
      const socket = c.env.incoming?.socket;
      refusals.refused(socket === undefined ? 'unknown' : `${socket.remoteAddress}:${socket.remotePort}`, 'http');
      return c.json({ code: 'UNAUTHORIZED' as const, message: UNAUTHORIZED_MESSAGE }, 401);
    }
    await next();
    return undefined;
  });
  const tooLarge = (c: Context) => c.json({ code: 'TOO_LARGE' as const, message: `the body is over ${options.maxBodyBytes} bytes (EVENTBUS_HTTP_MAX_BODY)` }, 413);
  // Hono's limit reads the body through a web stream it builds; a body of known length is judged by its header
  // alone, and left to be read straight off the socket (several times cheaper per request).
  const limitUnknownLength = bodyLimit({ maxSize: options.maxBodyBytes, onError: tooLarge });
  const limitBody: MiddlewareHandler<HttpEnv> = async (c, next) => {
    if (c.req.header('transfer-encoding') !== undefined) return limitUnknownLength(c, next);
    const length = c.req.header('content-length');
    if (length !== undefined && Number(length) > options.maxBodyBytes) return tooLarge(c);
    await next();
    return undefined;
  };
  app.use('/api/*', limitBody);
  const report = (c: Context, r: ConsumerReport) => c.json(b.wireConsumer(r, options.stateOf(r)), 200);
  const streams = new Set<SseStream>();
  const statsStreams = new StatsStreams(() => statsEvent(broker, options), { intervalMs: STATS_STREAM_INTERVAL_MS, bufferBytes: options.bufferBytes });

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/publish',
      summary: 'Publish one message, or a batch (all or none are stored)',
      request: body(b.PublishBody),
      responses: { 200: json(b.Published.or(b.PublishedBatch), 'stored, once durable'), ...errors(400, 413) },
    }),
    async (c) => {
      const input = c.req.valid('json');
      if ('messages' in input) {
        const published = await broker.publishBatch(input.messages.map(b.publishInputOf));
        if (published.isErr()) return fail(c, published.error);
        return c.json({ seqs: published.value.map((p) => p.seq), message_ids: published.value.map((p) => p.messageId) }, 200);
      }
      const published = await broker.publish(b.publishInputOf(input));
      if (published.isErr()) return fail(c, published.error);
      const { seq, messageId, duplicate } = published.value;
      return c.json({ seq, message_id: messageId, duplicate }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/messages',
      summary: 'A page of the log in seq order, from seq 1 unless from_seq or from_time says',
      request: { query: b.MessagesQuery },
      responses: { 200: json(b.MessagesPage, 'the page'), ...errors(400) },
    }),
    async (c) => {
      const q = c.req.valid('query');
      if (q.pattern !== undefined) {
        const checked = checkPattern(q.pattern);
        if (checked.isErr()) return fail(c, checked.error);
      }
      const from = await startSeq(broker, q.from_seq, q.from_time);
      if (from.isErr()) return fail(c, from.error);
      const page = await broker.messages({ fromSeq: from.value, pattern: q.pattern, limit: q.limit ?? b.DEFAULT_PAGE, scanRows: options.scanRows });
      if (page.isErr()) return fail(c, page.error);
      return c.json({ messages: page.value.messages.map(b.wireMessage), next_seq: page.value.nextSeq }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/messages/{seq}',
      summary: 'One message the log holds',
      request: { params: b.SeqParam },
      responses: { 200: json(b.Message, 'the message'), ...errors(400, 404) },
    }),
    async (c) => {
      const message = await broker.message(c.req.valid('param').seq);
      if (message.isErr()) return fail(c, message.error);
      return c.json(b.wireMessage(message.value), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/subscribe',
      summary: 'The log as Server-Sent Events: the catch-up, then live; Last-Event-ID resumes right after that seq',
      request: { query: b.SubscribeQuery },
      responses: {
        200: {
          content: { 'text/event-stream': { schema: b.StreamedMessage } },
          description: 'one `message` event per message: `id: <seq>`, `data: <the message as JSON>`; comment lines keep it alive',
        },
        ...errors(400),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const patterns = checkPatterns(q.pattern === undefined ? ['#'] : typeof q.pattern === 'string' ? [q.pattern] : q.pattern);
      if (patterns.isErr()) return fail(c, patterns.error);
      const lastEventId = c.req.header('last-event-id');
      let start: StartAt | undefined;
      if (lastEventId !== undefined && lastEventId.trim() !== '') {
        if (!/^\d{1,16}$/.test(lastEventId.trim())) return fail(c, brokerError('BAD_ARGS', 'Last-Event-ID must be the seq of the last event received'));
        start = { kind: 'seq', seq: Number(lastEventId.trim()) + 1 };
      } else if (q.from_seq !== undefined && q.from_time !== undefined) {
        return fail(c, bothStarts());
      } else if (q.from_seq !== undefined) start = { kind: 'seq', seq: q.from_seq };
      else if (q.from_time !== undefined) start = { kind: 'time', timeMs: q.from_time };
      const res = c.env.outgoing;
      if (res === undefined || c.req.method === 'HEAD') return c.body(null, 200, { 'content-type': 'text/event-stream' });
      const opened = await SseStream.open(broker, res, { patterns: patterns.value, start }, { bufferBytes: options.bufferBytes }, log, () => {
        streams.delete(stream);
      });
      if (opened.isErr()) return fail(c, opened.error);
      const stream = opened.value;
      streams.add(stream);
      return RESPONSE_ALREADY_SENT;
    },
  );

  app.openapi(
    createRoute({ method: 'get', path: '/api/topics', summary: 'Every topic the log holds', responses: { 200: json(b.Topic.array(), 'the topics'), ...errors() } }),
    async (c) => {
      const topics = await broker.topics();
      if (topics.isErr()) return fail(c, topics.error);
      return c.json(topics.value.map(b.wireTopic), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/consumers',
      summary: 'Every durable consumer, with its lag, deliveries in flight and dead letters',
      responses: { 200: json(b.Consumer.array(), 'the consumers'), ...errors() },
    }),
    async (c) => {
      const reports = await broker.consumerReports();
      if (reports.isErr()) return fail(c, reports.error);
      return c.json(
        reports.value.map((r) => b.wireConsumer(r, options.stateOf(r))),
        200,
      );
    },
  );

  app.openapi(
    createRoute({ method: 'get', path: '/api/consumers/{id}', request: { params: b.IdParam }, responses: { 200: json(b.Consumer, 'the consumer'), ...errors(404) } }),
    async (c) => {
      const r = await broker.consumerReport(id(c));
      return r.isErr() ? fail(c, r.error) : report(c, r.value);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/api/consumers/{id}',
      summary: 'Registers a consumer, or updates it as REGISTER does: its address replaced when given, its patterns added to, its filter replaced when given',
      request: { params: b.IdParam, ...body(b.ConsumerBody) },
      responses: { 200: json(b.Consumer, 'the consumer'), ...errors(400) },
    }),
    async (c) => {
      const input = c.req.valid('json');
      const address = parseAddress(input.address ?? '');
      if (input.address !== undefined && address.isErr()) return fail(c, address.error);
      const saved = await commands.put(id(c), { address: address.isOk() ? address.value : undefined, patterns: input.patterns, filter: input.filter, leaseMs: input.lease_ms });
      if (saved.isErr()) return fail(c, saved.error);
      const r = await broker.consumerReport(id(c));
      return r.isErr() ? fail(c, r.error) : report(c, r.value);
    },
  );

  app.openapi(
    createRoute({ method: 'delete', path: '/api/consumers/{id}', summary: 'Removes a consumer (as UNREGISTER)', request: { params: b.IdParam }, responses: { 200: json(b.Removed, 'removed'), ...errors(404) } }),
    async (c) => {
      const removed = await commands.unregister(id(c));
      return removed.isErr() ? fail(c, removed.error) : c.json({ id: id(c) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/consumers/{id}/replay',
      summary: 'Rewinds a consumer to a seq or a time (as REPLAY): what follows is delivered again',
      request: { params: b.IdParam, ...body(b.ReplayBody) },
      responses: { 200: json(b.Consumer, 'the consumer, rewound'), ...errors(400, 404) },
    }),
    async (c) => {
      const input = c.req.valid('json');
      const seq = input.from_seq !== undefined ? ok(input.from_seq) : await broker.seqAtTime(input.from_time ?? 0);
      if (seq.isErr()) return fail(c, seq.error);
      const r = await broker.replayReport(id(c), seq.value);
      return r.isErr() ? fail(c, r.error) : report(c, r.value);
    },
  );

  for (const action of ['pause', 'resume'] as const) {
    app.openapi(
      createRoute({
        method: 'post',
        path: `/api/consumers/{id}/${action}`,
        summary: action === 'pause' ? 'Pauses a consumer on every broker: nothing is delivered to it; its position is kept' : 'Resumes a paused consumer',
        request: { params: b.IdParam },
        responses: { 200: json(b.Consumer, 'the consumer'), ...errors(404) },
      }),
      async (c) => {
        const changed = action === 'pause' ? await broker.pauseConsumer(id(c)) : await broker.resumeConsumer(id(c));
        if (changed.isErr()) return fail(c, changed.error);
        const r = await broker.consumerReport(id(c));
        return r.isErr() ? fail(c, r.error) : report(c, r.value);
      },
    );
  }

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/consumers/{id}/dead-letters',
      summary: 'A page of a consumer\'s dead letters, in seq order',
      request: { params: b.IdParam, query: b.DeadLettersQuery },
      responses: { 200: json(b.DeadLettersPage, 'the page'), ...errors(400, 404) },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const page = await broker.deadLetters(id(c), Math.max(1, q.from_seq ?? 1), q.limit ?? b.DEFAULT_PAGE);
      if (page.isErr()) return fail(c, page.error);
      return c.json({ dead_letters: page.value.deadLetters.map(b.wireDeadLetter), next_seq: page.value.nextSeq }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/consumers/{id}/dead-letters/requeue',
      summary: 'Delivers dead letters to the consumer again, from a first attempt: those of seqs and filter, or all when neither is given',
      request: { params: b.IdParam, ...body(b.RequeueBody, false) },
      responses: { 200: json(b.Requeued, 'how many left the dead letters'), ...errors(400, 404) },
    }),
    async (c) => {
      const input = c.req.valid('json');
      const n = await broker.requeueDeadLetters(id(c), { seqs: input.seqs, filter: input.filter });
      return n.isErr() ? fail(c, n.error) : c.json({ requeued: n.value }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/api/consumers/{id}/dead-letters',
      summary: 'Deletes dead letters: those of seqs, or all when none are given',
      request: { params: b.IdParam, ...body(b.DeleteDeadLettersBody, false) },
      responses: { 200: json(b.Deleted, 'how many were deleted'), ...errors(400, 404) },
    }),
    async (c) => {
      const n = await broker.deleteDeadLetters(id(c), { seqs: c.req.valid('json').seqs });
      return n.isErr() ? fail(c, n.error) : c.json({ deleted: n.value }, 200);
    },
  );

  app.openapi(
    createRoute({ method: 'get', path: '/api/stats', summary: 'The broker, and the brokers alive on its database', responses: { 200: json(b.Stats, 'the figures'), ...errors() } }),
    (c) => {
      const stats = broker.stats();
      const nodes = broker.nodes();
      return c.json(
        {
          node_id: options.nodeId,
          head_seq: stats.headSeq,
          topics: stats.topics.filter((t) => t.stored > 0).length,
          consumers: stats.consumers.length,
          subscriptions: stats.subscriptions,
          connections: options.connections(),
          nodes: nodes.length === 0 ? [{ node_id: options.nodeId, last_seen: Date.now() }] : nodes.map((n) => ({ node_id: n.node, last_seen: n.lastSeen })),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/stats/stream',
      summary: 'The topics, the consumers and the rates as Server-Sent Events, once a second (what the dashboard shows)',
      responses: {
        200: {
          content: { 'text/event-stream': { schema: b.StatsEvent } },
          description: 'one `stats` event a second, `data: <the figures as JSON>`; `unavailable` with `{code, message}` when they cannot be read',
        },
        ...errors(),
      },
    }),
    (c) => {
      const res = c.env.outgoing;
      if (res === undefined || c.req.method === 'HEAD') return c.body(null, 200, { 'content-type': 'text/event-stream' });
      statsStreams.open(res);
      return RESPONSE_ALREADY_SENT;
    },
  );

  app.doc31('/api/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'eventbus HTTP API', version: '1', description: 'PROTOCOL.md §8. Auth: Authorization: Bearer <EVENTBUS_TOKEN> or ?token=' },
  });

  app.notFound((c) => {
    const allowed = methodsFor(app, c.req.path);
    if (allowed.length === 0) return c.json({ code: 'BAD_FORMAT' as const, message: `no route ${c.req.path}; GET /api/openapi.json lists them` }, 404);
    const allow = allowed.includes('GET') ? [...allowed, 'HEAD'] : allowed;
    return c.json({ code: 'BAD_FORMAT' as const, message: `${c.req.method} is not served on ${c.req.path}; use ${allow.join(' or ')}` }, 405, { allow: allow.join(', ') });
  });

  app.onError((e, c) => {
    if (e instanceof HTTPException) {
      // The body's content type (415) or JSON (400) is wrong: a BAD_FORMAT the client can fix.
      const message = e.status === 415 ? 'the body must be JSON: send content-type: application/json' : e.message;
      return c.json({ code: 'BAD_FORMAT' as const, message }, 400);
    }
    log.error('HTTP request failed', { method: c.req.method, path: c.req.path, error: e.stack ?? String(e) });
    return c.json({ code: 'UNAVAILABLE' as const, message: 'internal error; the broker logged it' }, 500);
  });

  return {
    app,
    streams: {
      get size() {
        return streams.size + statsStreams.size;
      },
      closeAll: () => {
        for (const stream of [...streams]) stream.close();
        statsStreams.closeAll();
      },
    },
  };
}

/** The figures of one GET /api/stats/stream event. */
async function statsEvent(broker: Broker, options: HttpApiOptions): Promise<Result<b.StatsEvent, BrokerError>> {
  const [topics, reports] = await Promise.all([broker.topics(), broker.consumerReports()]);
  return topics.andThen((t) => reports.map((r) => ({ t, r }))).map(({ t, r }) => {
    const stats = broker.stats();
    return {
      at: Date.now(),
      node_id: options.nodeId,
      head_seq: stats.headSeq,
      published_per_s: Math.round(stats.topics.reduce((sum, topic) => sum + topic.ratePerSec, 0) * 10) / 10,
      delivered_per_s: stats.deliveredPerSec,
      topics: t.map(b.wireTopic),
      consumers: r.map((c) => b.wireConsumer(c, options.stateOf(c))),
      connections: options.connections(),
    };
  });
}

/** The methods some route takes at `path`. */
function methodsFor(app: OpenAPIHono<HttpEnv>, path: string): string[] {
  const methods = new Set<string>();
  for (const route of app.routes) {
    if (route.method === 'ALL') continue;
    const pattern = new RegExp(`^${route.path.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/:[^/]+/g, '[^/]+')}$`);
    if (pattern.test(path)) methods.add(route.method);
  }
  return [...methods];
}

function bothStarts(): BrokerError<'BAD_ARGS'> {
  return brokerError('BAD_ARGS', 'give from_seq or from_time, not both');
}

/** The seq a read starts at: from_seq, the first at or after from_time, or 1. */
function startSeq(broker: Broker, fromSeq: number | undefined, fromTime: number | undefined): ResultAsync<number, BrokerError<'BAD_ARGS' | 'UNAVAILABLE'>> {
  if (fromSeq !== undefined && fromTime !== undefined) return errAsync(bothStarts());
  if (fromTime !== undefined) return broker.seqAtTime(fromTime);
  return okAsync(Math.max(1, fromSeq ?? 1));
}
