// A broker on a fresh database in its own temp directory, for tests. Short timeouts so that redelivery and
// retention can be observed in milliseconds.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteBroker, type SqliteBrokerConfig } from '../../src/app.js';
import { parseConfig, type Config } from '../../src/config.js';
import type { Broker } from '../../src/core/broker.js';
import { silentLogger } from '../../src/logger.js';

export function testBrokerConfig(dbPath: string, overrides: Partial<SqliteBrokerConfig> = {}): SqliteBrokerConfig {
  return {
    dbPath,
    sync: 'normal',
    defaultTtlSeconds: 0,
    ackTimeoutMs: 30_000,
    maxDeliveries: 10,
    maxInFlight: 256,
    maxPayloadBytes: 1_048_576,
    retention: [],
    retentionIntervalMs: 60_000,
    ...overrides,
  };
}

export interface TestDir {
  readonly dir: string;
  readonly dbPath: string;
  cleanup(): Promise<void>;
}

export async function tempDir(): Promise<TestDir> {
  const dir = await mkdtemp(join(tmpdir(), 'eventbus-'));
  return { dir, dbPath: join(dir, 'bus.db'), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function openBroker(dbPath: string, overrides: Partial<SqliteBrokerConfig> = {}, now?: () => number): Promise<Broker> {
  const opened = await openSqliteBroker(testBrokerConfig(dbPath, overrides), silentLogger, now ? { now } : {});
  if (opened.isErr()) throw new Error(opened.error.message);
  return opened.value.broker;
}

/** A broker in a temp dir; stop() closes it and removes the directory. */
export async function startTestBroker(overrides: Partial<SqliteBrokerConfig> = {}): Promise<{ broker: Broker; dir: TestDir; stop(): Promise<void> }> {
  const dir = await tempDir();
  const broker = await openBroker(dir.dbPath, overrides);
  return {
    broker,
    dir,
    stop: async () => {
      await broker.close();
      await dir.cleanup();
    },
  };
}

/** Full settings as parseConfig reads them: `dbPath`, every port 0, sync normal; `env` adds or overrides. */
export function testAppConfig(dbPath: string, env: Record<string, string> = {}): Config {
  return parseConfig({
    EVENTBUS_DB: dbPath,
    EVENTBUS_TRANSPORT_PORT: '0',
    EVENTBUS_REGISTRATION_PORT: '0',
    EVENTBUS_HTTP_PORT: '0',
    EVENTBUS_SYNC: 'normal',
    ...env,
  })._unsafeUnwrap();
}
