// /metrics in the Prometheus text format (prom-client), read from broker.stats() at scrape time so the
// hot paths count nothing extra; only the scheduler's fire delays are observed as they happen. A registry per broker: several brokers in one process (tests, embedders)
// do not share series.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Broker, ConsumerReport } from '../core/broker.js';

export function createMetrics(broker: Broker, sources: { wsConnections: () => number }): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'eventbus_' });
  // prom-client names three gauges nodejs_active_{handles,requests,resources}_total, a suffix Prometheus keeps for
  // counters (promtool refuses it); the same figures by type, in the gauges without the suffix, stay.
  for (const metric of registry.getMetricsAsArray()) {
    if (metric.name.endsWith('_total') && !(metric instanceof Counter)) registry.removeSingleMetric(metric.name);
  }
  const gauge = (name: string, help: string, labelNames: string[], collect: (g: Gauge) => void | Promise<void>): void => {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        return collect(this);
      },
    });
  };
  // The consumers' figures are counted from the store once per scrape, for the three gauges that show them.
  let reports: Promise<ConsumerReport[]> | undefined;
  const consumerReports = (): Promise<ConsumerReport[]> =>
    (reports ??= broker
      .consumerReports()
      .unwrapOr([])
      .finally(() => setImmediate(() => (reports = undefined))));
  const consumerGauge = (name: string, help: string, value: (c: ConsumerReport) => number): void => {
    gauge(name, help, ['consumer'], async (g) => {
      const list = await consumerReports();
      g.reset();
      for (const c of list) g.set({ consumer: c.id }, value(c));
    });
  };
  gauge('eventbus_head_seq', 'Last seq committed to the log', [], (g) => g.set(broker.headSeq()));
  gauge('eventbus_subscriptions', 'Open subscriptions, all front-ends', [], (g) => g.set(broker.stats().subscriptions));
  gauge('eventbus_websocket_connections', 'Open WebSocket sessions', [], (g) => g.set(sources.wsConnections()));
  gauge('eventbus_topic_messages', 'Messages of a topic in the log', ['topic'], (g) => {
    g.reset();
    for (const t of broker.stats().topics) g.set({ topic: t.topic }, t.stored);
  });
  // A counter, as it only rises: Prometheus's rate() over it is the publish rate, restarts included.
  new Counter({
    name: 'eventbus_topic_published_total',
    help: 'Messages published to a topic since the broker started',
    labelNames: ['topic'],
    registers: [registry],
    collect() {
      this.reset();
      for (const t of broker.stats().topics) this.inc({ topic: t.topic }, t.published);
    },
  });
  consumerGauge('eventbus_consumer_lag', 'Messages matching a durable consumer that it has neither acked nor dead-lettered', (c) => c.lag);
  consumerGauge('eventbus_consumer_in_flight', 'Deliveries to a durable consumer sent and awaiting an ack', (c) => c.inFlight);
  consumerGauge('eventbus_consumer_dead_letters', 'Dead letters a durable consumer has now', (c) => c.deadLetters);
  consumerGauge('eventbus_consumer_paused', 'Whether a durable consumer is paused (1) or not (0)', (c) => (c.paused ? 1 : 0));
  gauge('eventbus_schedules_pending', 'Schedules with a fire to come: delayed messages not yet due and recurring schedules not past their end', [], async (g) => {
    // Counted by the store at scrape time; a failed count leaves the last figure rather than a false 0.
    const pending = await broker.schedules.pending();
    if (pending.isOk()) g.set(pending.value);
  });
  const fireDelay = new Histogram({
    name: 'eventbus_schedule_fire_delay_seconds',
    help: 'How long after its fire time a scheduled message was appended to the log (due to appended)',
    // From 1 ms to an hour: a healthy broker appends within ms (PROTOCOL.md §11 asks p99 under 100 ms, and at
    // most 1 s); the buckets past that show fires that waited for a restart or a takeover.
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60, 600, 3600],
    registers: [registry],
  });
  broker.schedules.onFired((lateMs) => fireDelay.observe(Math.max(0, lateMs) / 1000));
  return registry;
}
