// The figures of Broker.stats(), which the dashboard and /metrics show: the head, each topic's counts and
// publish rate, the delivery rate, the consumers and the subscriptions. The rates are sampled once a second.
import type { ConsumerInfo, ConsumerRegistry } from './consumers.js';
import type { Dispatcher } from './dispatcher.js';
import type { TopicSnapshot, TopicStats } from './topic-stats.js';

export interface BrokerStats {
  readonly headSeq: number;
  readonly topics: TopicSnapshot[];
  /** Messages sent to subscribers and push consumers per second over the last sampling interval, redeliveries included. */
  readonly deliveredPerSec: number;
  readonly consumers: ConsumerInfo[];
  readonly subscriptions: number;
}

const STATS_SAMPLE_MS = 1000;

export class StatsSampler {
  readonly #topics: TopicStats;
  readonly #dispatcher: Dispatcher;
  readonly #consumers: ConsumerRegistry;
  readonly #timer: NodeJS.Timeout;
  readonly #deliveryRate = { sampledAt: 0, deliveries: 0, perSec: 0 };

  constructor(parts: { topics: TopicStats; dispatcher: Dispatcher; consumers: ConsumerRegistry }, now: () => number) {
    this.#topics = parts.topics;
    this.#dispatcher = parts.dispatcher;
    this.#consumers = parts.consumers;
    this.#deliveryRate.sampledAt = now();
    this.#timer = setInterval(() => this.#sample(now()), STATS_SAMPLE_MS).unref();
  }

  stats(): BrokerStats {
    return {
      headSeq: this.#dispatcher.head(),
      topics: this.#topics.snapshot(),
      deliveredPerSec: this.#deliveryRate.perSec,
      consumers: this.#consumers.list(),
      subscriptions: [...this.#dispatcher.subscriptionIds()].length,
    };
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  #sample(now: number): void {
    this.#topics.sample(now);
    const rate = this.#deliveryRate;
    const seconds = (now - rate.sampledAt) / 1000;
    if (seconds <= 0) return;
    const deliveries = this.#dispatcher.deliveries();
    rate.perSec = Math.round(((deliveries - rate.deliveries) / seconds) * 10) / 10;
    rate.deliveries = deliveries;
    rate.sampledAt = now;
  }
}
