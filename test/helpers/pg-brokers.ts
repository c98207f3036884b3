// Broker processes on one PostgreSQL schema, as users run several: each its own ports and EVENTBUS_NODE_ID
// (`node-<i>`), the same EVENTBUS_DB and EVENTBUS_PG_SCHEMA, with WebSocket clients to them. Call once at
// the top of a test file: everything started is killed after each test, and the schemas dropped after the file.
import { afterEach } from 'vitest';
import { connect, type EventBusClient } from '../../src/client/index.js';
import { startBrokerProcess, type BrokerProcess } from './broker-process.js';
import { PG_URL, pgSchemas } from './postgres.js';

export interface PgBrokers {
  /**
   * `n` brokers on a new schema, started one after the other (the first applies the migrations), named
   * `<name>-<i>` (`node-<i>` unless given).
   */
  start(n: number, env?: Record<string, string>, name?: string): Promise<{ schema: string; nodes: BrokerProcess[] }>;
  client(node: BrokerProcess): Promise<EventBusClient>;
}

export function pgBrokers(): PgBrokers {
  const schemas = pgSchemas();
  const running: BrokerProcess[] = [];
  const clients: EventBusClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const b of running.splice(0)) {
      b.signal('SIGKILL');
      await b.exited().catch(() => undefined);
    }
  });
  return {
    start: async (n, env = {}, name = 'node') => {
      const schema = schemas.schema();
      const nodes: BrokerProcess[] = [];
      for (let i = 0; i < n; i++) {
        const node = await startBrokerProcess({ EVENTBUS_DB: PG_URL, EVENTBUS_PG_SCHEMA: schema, ...env, EVENTBUS_NODE_ID: `${name}-${i}` });
        running.push(node);
        nodes.push(node);
      }
      return { schema, nodes };
    },
    client: async (node) => {
      const c = await connect(`ws://127.0.0.1:${node.ports.http}/ws`, { reconnectIntervalMs: 50, maxRetries: 3, requestTimeoutMs: 10_000 });
      clients.push(c);
      return c;
    },
  };
}
