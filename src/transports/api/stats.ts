// GET /api/stats (the broker, and the brokers alive on its database) and GET /api/stats/stream (the topics, the
// consumers and the rates as Server-Sent Events: what the dashboard shows), whose open streams are handed back
// for the front-end to end.
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { Result } from 'neverthrow';
import type { Broker } from '../../core/broker.js';
import type { BrokerError } from '../../errors.js';
import * as b from '../../protocol/http-bodies.js';
import { StatsStreams } from '../stats-stream.js';
import { apiRoutes, errors, json, type EventStreams, type HttpApiOptions, type HttpEnv } from './route-kit.js';
import { principalOf } from './route-access.js';

// How often GET /api/stats/stream sends the figures: the rates are sampled once a second too.
const STATS_STREAM_INTERVAL_MS = 1000;

type StatsOptions = Pick<HttpApiOptions, 'nodeId' | 'stateOf' | 'connections' | 'bufferBytes'>;

export function statsRoutes(broker: Broker, options: StatsOptions): { routes: OpenAPIHono<HttpEnv>; streams: EventStreams } {
  const routes = apiRoutes();
  const streams = new StatsStreams(() => statsEvent(broker, options), { intervalMs: STATS_STREAM_INTERVAL_MS, bufferBytes: options.bufferBytes });

  routes.openapi(
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

  routes.openapi(
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
      streams.open(res, principalOf(c), broker.gate);
      return RESPONSE_ALREADY_SENT;
    },
  );

  return { routes, streams };
}

/** The figures of one GET /api/stats/stream event. */
async function statsEvent(broker: Broker, options: StatsOptions): Promise<Result<b.StatsEvent, BrokerError>> {
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
