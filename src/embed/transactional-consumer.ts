// Transactional consume for embedded consumers: the handler runs inside the store's transaction that records
// its ack (SQLite's, or one on a client of the PostgreSQL pool), so the application's writes to its own
// tables in the broker's database and the consumer's position commit together or not at all. A crash
// before the commit redelivers the message with nothing of it applied; after the commit the message counts
// as processed, even if the broker's own progress flush never ran (restart reads acks from
// processed_messages). Exactly-once effects, for this consumer.
import type Database from 'better-sqlite3';
import type pg from 'pg';
import type { ResultAsync } from 'neverthrow';
import type { Broker, SubscribeError, SubscribeOptions } from '../core/broker.js';
import { LocalSubscriber } from './local-subscriber.js';
import type { EventStore } from '../core/store-port.js';
import type { StoredMessage } from '../core/types.js';
import type { Logger } from '../logger.js';

/**
 * Called once per delivery, inside an open immediate transaction on `tx`. Must be synchronous (an
 * SQLite transaction cannot stay open across awaits); throwing rolls everything back and nacks.
 */
export type TransactionalHandler = (message: StoredMessage, tx: Database.Database, delivery: number) => void;

/**
 * On PostgreSQL: called once per delivery inside a transaction on `tx`, a client of the broker's pool, and
 * may await its queries there; throwing (or rejecting) rolls everything back and nacks.
 */
export type PostgresTransactionalHandler = (message: StoredMessage, tx: pg.PoolClient, delivery: number) => void | Promise<void>;

export interface TransactionalOptions extends SubscribeOptions {
  readonly consumer: string;
  /** Wait before a message whose handler threw is delivered again. */
  readonly retryDelayMs?: number;
}

export interface TransactionalConsumer {
  readonly subscriptionId: string;
  /** Stops after the message in hand; resolves when the loop has ended. */
  close(): Promise<void>;
}

/** `store` is the broker's own, the one whose transaction records the acks; `Tx` is what its work gets. */
export function consumeInTransaction<Tx>(
  broker: Broker,
  store: EventStore<Tx>,
  options: TransactionalOptions,
  handler: (message: StoredMessage, tx: Tx, delivery: number) => void | Promise<void>,
  logger: Logger,
  now: () => number = Date.now,
): ResultAsync<TransactionalConsumer, SubscribeError> {
  const retryDelayMs = options.retryDelayMs ?? 1000;
  return LocalSubscriber.open(broker, options).map((sub) => {
    let closing = false;
    const loop = (async () => {
      for await (const d of sub) {
        // After close, what is still queued goes back to the broker unacked, for the next member.
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() sets it while the loop waits
        if (closing) break;
        const m = d.message;
        const ack = { consumer: options.consumer, seq: m.seq, delivery: d.delivery, at: now() };
        // On SQLite a handler is typed to return nothing, but a JavaScript or async one can return a promise: that store refuses it.
        const outcome = await store.transactAck(ack, (tx) => handler(m, tx, d.delivery));
        const failure = outcome.isErr() ? outcome.error.message : outcome.value.kind === 'failed' ? String(outcome.value.error) : undefined;
        if (failure === undefined) {
          sub.ack(m.seq);
          continue;
        }
        logger.warn('transactional handler failed; rolled back, will redeliver', { consumer: options.consumer, seq: m.seq, error: failure });
        sub.nack(m.seq, retryDelayMs);
      }
    })();
    return {
      subscriptionId: sub.subscriptionId,
      close: async () => {
        closing = true;
        sub.close();
        await loop;
      },
    };
  });
}
