// What the core tests share: a per-test scope that stops everything a test started (in reverse order, even
// when it fails), brokers and subscribers opened in that scope, and a read-only SQL look at the file.
import Database from 'better-sqlite3';
import { afterEach } from 'vitest';
import type { Broker, BrokerConfig, SubscribeOptions } from '../../src/core/broker.js';
import { LocalSubscriber } from '../../src/embed/local-subscriber.js';
import { openBroker, tempDir, type TestDir } from './broker.js';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A read-only connection to the broker's file, as any SQLite client would open it. */
export function query<T>(dbPath: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
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

/** Every stored message of the broker's file, in seq order. */
export const rows = (bus: { readonly dbPath: string }): MessageRow[] =>
  query<MessageRow>(bus.dbPath, 'SELECT seq, message_id, topic, payload, metadata, ttl, created_at FROM messages ORDER BY seq');
export const count = (bus: { readonly dbPath: string }): number =>
  query<{ n: number }>(bus.dbPath, 'SELECT count(*) AS n FROM messages')[0]!.n;

export interface TestScope {
  /** Runs `stop` after the current test. */
  readonly defer: (stop: () => unknown) => void;
  /** A fresh broker in its own temp dir. */
  readonly start: (overrides?: Partial<BrokerConfig>, now?: () => number) => Promise<{ broker: Broker; dbPath: string }>;
  /** A temp dir, for tests that close and reopen a broker on the same file. */
  readonly dir: () => Promise<TestDir>;
  readonly open: (dbPath: string, overrides?: Partial<BrokerConfig>, now?: () => number) => Promise<Broker>;
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
    open: async (dbPath, overrides = {}, now) => {
      const broker = await openBroker(dbPath, overrides, now);
      stops.push(() => broker.close());
      return broker;
    },
    start: async (overrides = {}, now) => {
      const d = await scope.dir();
      return { broker: await scope.open(d.dbPath, overrides, now), dbPath: d.dbPath };
    },
    subscribe: async (broker, options, queueLimit) => {
      const sub = (await LocalSubscriber.open(broker, options, queueLimit))._unsafeUnwrap();
      stops.push(() => sub.close());
      return sub;
    },
  };
  return scope;
}
