// POST /api/publish: one message, or a batch stored all or none, answered once durable; the same as CloudEvents
// in binary, structured or batch mode (PROTOCOL.md §13), told apart by their headers.
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { Broker } from '../../core/broker.js';
import { err, type Result } from 'neverthrow';
import type { PublishInput } from '../../core/types.js';
import { brokerError, type BrokerError } from '../../errors.js';
import * as ce from '../../protocol/cloudevents.js';
import * as b from '../../protocol/http-bodies.js';
import { parseTraceContext, withTraceContext } from '../../protocol/trace-context.js';
import { apiRoutes, body, errors, fail, json, type HttpEnv } from './route-kit.js';
import { principalOf } from './route-access.js';

/** The publishes a CloudEvents request carries, in the mode it was sent in. */
function cloudEvents(mode: ce.CloudEventMode, headers: Record<string, string>, contentType: string | undefined, text: string, topic: string | undefined): Result<PublishInput[], BrokerError> {
  if (mode === 'binary') return ce.fromBinary(headers, contentType, text, topic).map((input) => [input]);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return err(brokerError('BAD_FORMAT', `the body is not JSON, as ${mode === 'batch' ? ce.BATCH : ce.STRUCTURED} must be`));
  }
  return mode === 'batch' ? ce.fromBatch(parsed, topic) : ce.fromStructured(parsed, topic).map((input) => [input]);
}

const timed = (m: b.PublishMessage): boolean => m.deliver_at !== undefined || m.delay_ms !== undefined;

export function publishRoutes(broker: Broker): OpenAPIHono<HttpEnv> {
  const routes = apiRoutes();
  // Ahead of the JSON route, whose schema a CloudEvent (any content type in binary mode) would not pass.
  routes.post('/api/publish', async (c, next) => {
    const contentType = c.req.header('content-type');
    const mode = ce.cloudEventMode(contentType, c.req.header('ce-specversion'));
    if (mode === undefined) return next();
    const inputs = cloudEvents(mode, c.req.header(), contentType, await c.req.text(), c.req.query('topic'));
    if (inputs.isErr()) return fail(c, inputs.error);
    const context = parseTraceContext(c.req.header('traceparent'), c.req.header('tracestate'));
    const messages = inputs.value.map((input) => ({ ...input, metadata: withTraceContext(input.metadata, context) }));
    const allowed = principalOf(c).publish(
      messages.map((m) => m.topic),
      'POST /api/publish',
    );
    if (allowed.isErr()) return fail(c, allowed.error);
    if (mode === 'batch') {
      const published = await broker.publishBatch(messages);
      if (published.isErr()) return fail(c, published.error);
      return c.json({ seqs: published.value.map((p) => p.seq), message_ids: published.value.map((p) => p.messageId), duplicates: published.value.map((p) => p.duplicate) }, 200);
    }
    const published = await broker.publish(messages[0]!);
    if (published.isErr()) return fail(c, published.error);
    const p = published.value;
    return c.json({ seq: p.seq, message_id: p.messageId, duplicate: p.duplicate }, 200);
  });

  routes.openapi(
    createRoute({
      method: 'post',
      path: '/api/publish',
      summary: 'Publish one message, or a batch (all or none are stored)',
      request: { ...body(b.PublishBody), headers: b.TraceHeaders },
      responses: { 200: json(b.Published.or(b.Scheduled).or(b.PublishedBatch), 'stored, once durable'), ...errors(400, 413, 429) },
    }),
    async (c) => {
      const input = c.req.valid('json');
      // The trace context of the request's headers goes to each message that carries none of its own.
      const context = parseTraceContext(c.req.header('traceparent'), c.req.header('tracestate'));
      const inputOf = (m: b.PublishMessage): PublishInput => {
        const given = b.publishInputOf(m);
        return context === undefined ? given : { ...given, metadata: withTraceContext(given.metadata, context) };
      };
      const allowed = principalOf(c).publish('messages' in input ? input.messages.map((m) => m.topic) : [input.topic], 'POST /api/publish');
      if (allowed.isErr()) return fail(c, allowed.error);
      if ('messages' in input) {
        if (!input.messages.some(timed)) {
          const published = await broker.publishBatch(input.messages.map(inputOf));
          if (published.isErr()) return fail(c, published.error);
          return c.json({ seqs: published.value.map((p) => p.seq), message_ids: published.value.map((p) => p.messageId), duplicates: published.value.map((p) => p.duplicate) }, 200);
        }
        const answers = await broker.publishBatchLater(input.messages.map((m) => ({ input: inputOf(m), time: b.publishTimeOf(m) })));
        if (answers.isErr()) return fail(c, answers.error);
        return c.json(
          {
            seqs: answers.value.map((a) => ('seq' in a ? a.seq : null)),
            message_ids: answers.value.map((a) => a.messageId),
            duplicates: answers.value.map((a) => a.duplicate),
            schedule_ids: answers.value.map((a) => ('scheduleId' in a ? a.scheduleId : null)),
          },
          200,
        );
      }
      const published = timed(input) ? await broker.publishLater(inputOf(input), b.publishTimeOf(input)) : await broker.publish(inputOf(input));
      if (published.isErr()) return fail(c, published.error);
      const p = published.value;
      if ('scheduleId' in p) return c.json({ schedule_id: p.scheduleId, deliver_at: p.deliverAt, message_id: p.messageId, duplicate: p.duplicate }, 200);
      return c.json({ seq: p.seq, message_id: p.messageId, duplicate: p.duplicate }, 200);
    },
  );
  return routes;
}
