// The log over HTTP: GET /api/messages (a page in seq order), GET /api/messages/{seq}, and GET /api/subscribe
// (Server-Sent Events: the catch-up, then live), whose open streams are handed back for the front-end to end.
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { errAsync, okAsync, type ResultAsync } from 'neverthrow';
import type { Broker } from '../../core/broker.js';
import type { StartAt, StoredMessage } from '../../core/types.js';
import { brokerError, type BrokerError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { eventSource } from '../../protocol/cloudevents.js';
import * as b from '../../protocol/http-bodies.js';
import { checkPattern, checkPatterns } from '../../protocol/topics.js';
import { SseStream } from '../sse.js';
import { principalOf } from './route-access.js';
import { apiRoutes, errors, fail, json, type EventStreams, type HttpApiOptions, type HttpEnv } from './route-kit.js';

export function messageRoutes(broker: Broker, options: Pick<HttpApiOptions, 'scanRows' | 'bufferBytes' | 'nodeId'>, log: Logger): { routes: OpenAPIHono<HttpEnv>; streams: EventStreams } {
  const routes = apiRoutes();
  const source = eventSource(options.nodeId);
  const streams = new Set<SseStream>();

  routes.openapi(
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
      // Without a pattern the page is of every topic.
      const allowed = principalOf(c).read(q.pattern ?? '#', 'GET /api/messages');
      if (allowed.isErr()) return fail(c, allowed.error);
      const from = await startSeq(broker, q.from_seq, q.from_time);
      if (from.isErr()) return fail(c, from.error);
      const page = await broker.messages({ fromSeq: from.value, pattern: q.pattern, limit: q.limit ?? b.DEFAULT_PAGE, scanRows: options.scanRows });
      if (page.isErr()) return fail(c, page.error);
      return c.json({ messages: page.value.messages.map(b.wireMessage), next_seq: page.value.nextSeq }, 200);
    },
  );

  routes.openapi(
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
      const allowed = principalOf(c).read(message.value.topic, 'GET /api/messages/{seq}');
      if (allowed.isErr()) return fail(c, allowed.error);
      return c.json(b.wireMessage(message.value), 200);
    },
  );

  routes.openapi(
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
      const principal = principalOf(c);
      for (const pattern of patterns.value) {
        const allowed = principal.read(pattern, 'GET /api/subscribe');
        if (allowed.isErr()) return fail(c, allowed.error);
      }
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
      const opened = await SseStream.open(broker, res, { patterns: patterns.value, start, principal, event: q.format === 'cloudevents' ? (m: StoredMessage) => b.sseCloudEvent(m, source) : undefined }, { bufferBytes: options.bufferBytes }, log, () => {
        streams.delete(stream);
      });
      if (opened.isErr()) return fail(c, opened.error);
      const stream = opened.value;
      streams.add(stream);
      return RESPONSE_ALREADY_SENT;
    },
  );

  return {
    routes,
    streams: {
      get size() {
        return streams.size;
      },
      closeAll: () => {
        for (const stream of [...streams]) stream.close();
      },
    },
  };
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
