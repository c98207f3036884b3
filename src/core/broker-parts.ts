// The parts a Broker is made of and how they are wired together: publishes go committer → log follower →
// dispatcher, which fans them out to the streams; beside them retention, the consumer registry with its reports
// and dead letters, the stats sampler, and, when other brokers share the store, the cluster that spreads the
// consumers over them.
import { okAsync, type ResultAsync } from 'neverthrow';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { Access } from './access.js';
import { Audit } from './audit.js';
import { Cluster } from './cluster.js';
import { Committer } from './committer.js';
import { ConsumerReports } from './consumer-reports.js';
import { ConsumerRegistry } from './consumers.js';
import { DeadLetters } from './dead-letters.js';
import { Gate } from './gate.js';
import { Dispatcher } from './dispatcher.js';
import { LogFollower } from './log-follower.js';
import { PullMembers } from './pull.js';
import { Retention } from './retention.js';
import { Scheduler } from './scheduler.js';
import { Schedules } from './schedules.js';
import { StatsSampler } from './stats.js';
import type { EventStore, StorageError } from './store-port.js';
import { TopicStats } from './topic-stats.js';
import { NO_TRACING, type Tracing } from './tracing.js';
import type { StartAt } from './types.js';

export type BrokerConfig = Pick<
  Config,
  | 'defaultTtlSeconds'
  | 'ackTimeoutMs'
  | 'maxDeliveries'
  | 'maxInFlight'
  | 'maxPayloadBytes'
  | 'retention'
  | 'retentionIntervalMs'
> &
  // Absent: every push failure is kept; durable consumers in the default number of partitions; delays as
  // EVENTBUS_MAX_DELAY's default allows.
  Partial<Pick<Config, 'failureLogMaxAgeMs' | 'consumerPartitions' | 'deliveryReservation' | 'maxDelayMs' | 'auditMaxAgeMs'>> & {
    /** EVENTBUS_TOKEN: the credential `admin` (PROTOCOL.md §12); absent, only stored credentials are checked. */
    readonly token?: string | undefined;
  };

/** Partitions of a shared durable consumer when the settings do not say. */
const DEFAULT_PARTITIONS = 16;
// As EVENTBUS_DELIVERY_RESERVATION's, EVENTBUS_MAX_DELAY's and EVENTBUS_AUDIT_MAX_AGE's defaults (config/settings.ts), for embedders
// that leave them out.
const DEFAULT_RESERVATION = 1000;
const DEFAULT_MAX_DELAY_MS = 366 * 24 * 3600 * 1000;
const DEFAULT_AUDIT_MAX_AGE_MS = 90 * 24 * 3600 * 1000;

export interface BrokerParts {
  readonly topics: TopicStats;
  readonly dispatcher: Dispatcher;
  readonly follower: LogFollower;
  readonly committer: Committer;
  readonly retention: Retention;
  readonly consumers: ConsumerRegistry;
  /** The consumers' pull members: fetch, ack, nack, extend. */
  readonly pull: PullMembers;
  readonly reports: ConsumerReports;
  readonly deadLetters: DeadLetters;
  readonly stats: StatsSampler;
  readonly scheduler: Scheduler;
  readonly schedules: Schedules;
  readonly access: Access;
  readonly gate: Gate;
  /** Present when other brokers share the store. */
  readonly cluster: Cluster | undefined;
  /** The first seq read from `start`: by a new subscription, a new consumer, a rewind. */
  readonly startSeq: (start: StartAt | undefined) => ResultAsync<number, StorageError>;
}

export function buildParts(store: EventStore, config: BrokerConfig, logger: Logger, now: () => number, tracing: Tracing = NO_TRACING): BrokerParts {
  const topics = new TopicStats(now());
  const shared = store.cluster;
  const partitions = config.consumerPartitions ?? DEFAULT_PARTITIONS;
  const dispatcher = new Dispatcher(
    store,
    {
      ackTimeoutMs: config.ackTimeoutMs,
      maxDeliveries: config.maxDeliveries,
      maxInFlight: config.maxInFlight,
      reservation: config.deliveryReservation ?? DEFAULT_RESERVATION,
      now,
      partitions: shared === undefined ? undefined : partitions,
      tracing,
    },
    logger,
  );
  const follower = new LogFollower(
    store,
    {
      head: () => dispatcher.head(),
      deliver: (messages) => {
        for (const m of messages) topics.published(m.topic);
        dispatcher.onCommit(messages);
      },
      skim: (headers) => {
        for (const h of headers) topics.published(h.topic);
        dispatcher.advance(headers[headers.length - 1]!.seq);
      },
      advance: (seq) => {
        dispatcher.advance(seq);
      },
      eager: () => dispatcher.hasMembers(),
    },
    logger,
  );
  const committer = new Committer(
    store,
    (messages) => {
      follower.local(messages);
    },
    tracing,
  );
  let cluster: Cluster | undefined;
  const retention = new Retention({
    store,
    rules: config.retention,
    topics,
    now,
    intervalMs: config.retentionIntervalMs,
    failureLogMaxAgeMs: config.failureLogMaxAgeMs ?? 0,
    logger,
    // Shared: one broker at a time.
    active: () => cluster?.runs('retention') ?? true,
    removed: (messages) => {
      reports.removed(messages);
    },
  });
  const scheduler = new Scheduler({
    store: store.schedules,
    committer,
    now,
    logger,
  });
  const schedules = new Schedules(store.schedules, scheduler, { ...config, maxDelayMs: config.maxDelayMs ?? DEFAULT_MAX_DELAY_MS }, now);
  const startSeq = (start: StartAt | undefined): ResultAsync<number, StorageError> => startSeqOf(store, dispatcher, start);
  const consumers = new ConsumerRegistry({
    store,
    dispatcher,
    logger,
    now,
    startSeq,
    elsewhere: shared === undefined ? undefined : (id) => cluster!.elsewhere(id),
  });
  const pull = new PullMembers(dispatcher, {
    wake: () => {
      follower.wake();
    },
    joined: () => cluster?.nextBeat() ?? Promise.resolve(),
  });
  const reports = new ConsumerReports({ store, dispatcher, consumers, topics: () => topics.known(), now });
  const deadLetters = new DeadLetters(store, consumers, now);
  const access = new Access(store.credentials, config.token, now);
  const auditMaxAgeMs = config.auditMaxAgeMs ?? DEFAULT_AUDIT_MAX_AGE_MS;
  const audit = new Audit({ store: store.credentials, maxAgeMs: auditMaxAgeMs === 0 ? undefined : auditMaxAgeMs, now, logger });
  const gate = new Gate(access, audit, now, logger);
  store.onConsumerSignal((signal) => {
    if (signal.kind === 'credentials') {
      void access.load().mapErr((e) => {
        logger.warn('could not read the credentials changed on another broker; read again shortly', { reason: e.message });
      });
    } else if (signal.kind === 'removed') reports.removedBetween(signal.first, signal.last);
    else consumers.applySignal(signal);
  });
  if (shared !== undefined) {
    const joined = new Cluster({ port: shared, store, dispatcher, consumers, partitions, ackTimeoutMs: config.ackTimeoutMs, logger });
    cluster = joined;
    dispatcher.onMembersChanged(() => {
      joined.nudge();
    });
    // Given up at once, for the broker it goes to.
    dispatcher.onPartitionDrained(() => {
      joined.nudge();
    });
  }
  const stats = new StatsSampler({ topics, dispatcher, consumers }, now);
  return { topics, dispatcher, follower, committer, retention, consumers, pull, reports, deadLetters, stats, scheduler, schedules, access, gate, cluster, startSeq };
}

function startSeqOf(store: EventStore, dispatcher: Dispatcher, start: StartAt | undefined): ResultAsync<number, StorageError> {
  if (start === undefined || start.kind === 'head') return okAsync(dispatcher.head() + 1);
  if (start.kind === 'seq') return okAsync(Math.max(1, start.seq)); // seq 0: from the very start
  return store.seqAtTime(start.timeMs).map((seq) => Math.min(seq, dispatcher.head() + 1));
}
