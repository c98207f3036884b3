// What the core tests share: a per-test scope that stops everything a test started (in reverse order, even
// when it fails), brokers and subscribers opened in that scope, and SQL on the database from outside.
import Database from 'better-sqlite3';
import { afterEach } from 'vitest';
import type { Broker, BrokerConfig, SubscribeOptions } from '../../src/core/broker.js';
import type { Delivery } from '../../src/core/types.js';
import { LocalSubscriber } from '../../src/embed/local-subscriber.js';
import { openBroker, tempDir, type TestDb, type TestDir } from './broker.js';
import { pgPlaceholders, pgQuerySync } from './pg-sync.js';
import { until } from './until.js';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * SQL on the broker's database from outside the broker, as a user's client would run it, on either store:
 * a connection of its own to the SQLite file, or to the PostgreSQL schema. Parameters are `?` on both; the
 * SQL is what both dialects read alike (on PostgreSQL bigint columns and counts come back as numbers). A
 * statement that writes (a row a test plants) opens the SQLite file for writing; a read opens it read-only.
 */
export function query<T>(db: TestDb, sql: string, ...params: unknown[]): T[] {
  if (db.pgSchema !== undefined) return pgQuerySync<T>(db.pgSchema, pgPlaceholders(sql), params);
  const sqlite = new Database(db.dbPath, { readonly: !/^\s*(INSERT|UPDATE|DELETE)\b/i.test(sql), fileMustExist: true });
  try {
    const statement = sqlite.prepare(sql);
    return (statement.reader ? statement.all(...params) : (statement.run(...params), [])) as T[];
  } finally {
    sqlite.close();
  }
}

/** A stored message as `SELECT … FROM messages` returns it. */
export interface MessageRow {
  seq: number;
  message_id: string | null;
  topic: string;
  payload: string;
  metadata: string;
  ttl: number;
  created_at: number;
}

/** Every stored message of the broker's database, in seq order. */
export const rows = (db: TestDb): MessageRow[] =>
  query<MessageRow>(db, 'SELECT seq, message_id, topic, payload, metadata, ttl, created_at FROM messages ORDER BY seq');
export const count = (db: TestDb): number => query<{ n: number }>(db, 'SELECT count(*) AS n FROM messages')[0]!.n;

/**
 * Waits until the broker reports `position` for `consumer`: on SQLite at once (the broker's own floor), on
 * PostgreSQL after the next heartbeat has stored it (the stored position covers every broker's partitions).
 */
export const positionReaches = (broker: Broker, consumer: string, position: number): Promise<true> =>
  until(() => `${consumer} at position ${position} (now ${broker.consumer(consumer)?.position})`, () => broker.consumer(consumer)?.position === position);

/**
 * `count` deliveries, each waited for as long as a loaded machine may need (on PostgreSQL a new member's
 * partitions come with a heartbeat), then whatever else arrives within `quietMs`: a test that expects exactly
 * `count` sees an extra one, and a slow first delivery does not pass for "none".
 */
export async function takeExactly(sub: LocalSubscriber, count: number, quietMs = 200): Promise<Delivery[]> {
  const got = await sub.take(count, 3000);
  if (got.length < count) return got;
  for (let d = await sub.next(quietMs); d !== undefined; d = await sub.next(quietMs)) got.push(d);
  return got;
}

export interface TestScope {
  /** Runs `stop` after the current test. */
  readonly defer: (stop: () => unknown) => void;
  /** A broker on a fresh database. */
  readonly start: (overrides?: Partial<BrokerConfig>, now?: () => number) => Promise<{ broker: Broker; db: TestDir }>;
  /** A fresh database (and temp dir), for tests that close and reopen a broker on the same database. */
  readonly dir: () => Promise<TestDir>;
  readonly open: (db: TestDb, overrides?: Partial<BrokerConfig>, now?: () => number) => Promise<Broker>;
  readonly subscribe: (broker: Broker, options: SubscribeOptions, queueLimit?: number) => Promise<LocalSubscriber>;
}

/** Call once at the top of a test file. */
export function testScope(): TestScope {
  const stops: (() => unknown)[] = [];
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });
  const scope: TestScope = {
    defer: (stop) => {
      stops.push(stop);
    },
    dir: async () => {
      const d = await tempDir();
      stops.push(() => d.cleanup());
      return d;
    },
    open: async (db, overrides = {}, now) => {
      const broker = await openBroker(db, overrides, now);
      stops.push(() => broker.close());
      return broker;
    },
    start: async (overrides = {}, now) => {
      const db = await scope.dir();
      return { broker: await scope.open(db, overrides, now), db };
    },
    subscribe: async (broker, options, queueLimit) => {
      const sub = (await LocalSubscriber.open(broker, options, queueLimit))._unsafeUnwrap();
      stops.push(() => sub.close());
      return sub;
    },
  };
  return scope;
}
