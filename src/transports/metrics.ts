// /metrics in the Prometheus text format (prom-client), read from broker.stats() at scrape time so the
// hot paths count nothing extra. A registry per broker: several brokers in one process (tests, embedders)
// do not share series.
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { Broker } from '../core/broker.js';

export function createMetrics(broker: Broker, sources: { wsConnections: () => number }): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'eventbus_process_' });
  const gauge = (name: string, help: string, labelNames: string[], collect: (g: Gauge) => void): void => {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        collect(this);
      },
    });
  };
  gauge('eventbus_head_seq', 'Last seq committed to the log', [], (g) => g.set(broker.headSeq()));
  gauge('eventbus_subscriptions', 'Open subscriptions, all front-ends', [], (g) => g.set(broker.stats().subscriptions));
  gauge('eventbus_websocket_connections', 'Open WebSocket sessions', [], (g) => g.set(sources.wsConnections()));
  gauge('eventbus_topic_messages', 'Messages of a topic in the log', ['topic'], (g) => {
    g.reset();
    for (const t of broker.stats().topics) g.set({ topic: t.topic }, t.stored);
  });
  gauge('eventbus_topic_published', 'Messages published to a topic since the broker started', ['topic'], (g) => {
    g.reset();
    for (const t of broker.stats().topics) g.set({ topic: t.topic }, t.published);
  });
  gauge('eventbus_consumer_lag', 'Seqs between a durable consumer\'s ack floor and the head', ['consumer'], (g) => {
    g.reset();
    for (const c of broker.consumers()) g.set({ consumer: c.id }, c.lag);
  });
  gauge('eventbus_consumer_in_flight', 'Deliveries awaiting an ack', ['consumer'], (g) => {
    g.reset();
    for (const c of broker.consumers()) g.set({ consumer: c.id }, c.inFlight);
  });
  gauge('eventbus_consumer_dead_letters', 'Messages a consumer dead-lettered', ['consumer'], (g) => {
    g.reset();
    for (const c of broker.consumers()) g.set({ consumer: c.id }, c.deadLetters);
  });
  return registry;
}
