// The state column of LIST on the registration port (PROTOCOL.md §4) follows each push consumer's connection:
// `connected` while the endpoint is reachable, `offline`/`retrying` while it is not, and back again.
import { describe, expect, test } from 'vitest';
import { deadAddress, pushBus, startEndpoint, type Endpoint, type PushBus } from '../helpers/consumers.js';
import { query, sleep, testScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';

const scope = testScope();

async function consumerOf(protocol: 'tcp' | 'ws' | 'http'): Promise<Endpoint> {
  const ep = await startEndpoint(protocol);
  scope.defer(() => ep.stop());
  return ep;
}

interface Listed {
  readonly address: string;
  readonly patterns: string;
  readonly state: string;
  readonly position: number;
  /** The key=value fields after the position, values decoded as a line parser would (decodeURIComponent). */
  readonly fields: Record<string, string>;
}

/** The LIST line of `id`, split into its columns. */
async function listed(bus: PushBus, id: string): Promise<Listed | undefined> {
  for (const line of await bus.list()) {
    const [lineId, address, patterns, state, position, ...rest] = line.split(' ');
    const keys = rest.map((field) => field.split('=')[0]);
    expect(keys.slice(0, 3), `LIST line ${JSON.stringify(line)} has five columns, then its figures`).toEqual(['lag', 'in_flight', 'dead_letters']);
    expect([[], ['last_failure_at', 'last_failure']], `LIST line ${JSON.stringify(line)}: the last failure, or nothing, after the figures`).toContainEqual(keys.slice(3));
    const fields = Object.fromEntries(rest.map((field) => [field.slice(0, field.indexOf('=')), decodeURIComponent(field.slice(field.indexOf('=') + 1))]));
    if (lineId === id) return { address: address!, patterns: patterns!, state: state!, position: Number(position), fields };
  }
  return undefined;
}

interface WireLastFailure {
  readonly at: number;
  readonly error: string;
}

async function apiConsumer(bus: PushBus, id: string): Promise<{ state: string; last_failure: WireLastFailure | null }> {
  const res = await fetch(`http://127.0.0.1:${bus.app.ports.http}/api/consumers/${id}`);
  expect(res.status).toBe(200);
  return (await res.json()) as { state: string; last_failure: WireLastFailure | null };
}

/** Polls LIST until `id`'s state is one of `states`; returns its line. */
async function stateBecomes(bus: PushBus, id: string, states: readonly string[], timeoutMs = 5_000): Promise<Listed> {
  let line: Listed | undefined;
  return until(
    () => `${id} to be listed as ${states.join('/')} (it is listed as ${JSON.stringify(line)})`,
    async () => {
      line = await listed(bus, id);
      return line !== undefined && states.includes(line.state) && line;
    },
    timeoutMs,
  );
}

describe.each(['tcp', 'ws'] as const)('LIST state of a %s consumer', (protocol) => {
  test('a reachable consumer is connected, and its position follows what it was sent', async () => {
    const bus = await pushBus(scope);
    const consumer = await consumerOf(protocol);
    await bus.register('reachable', consumer.url, 'orders.*', 'payments.#');
    const line = await stateBecomes(bus, 'reachable', ['connected']);
    expect(line).toMatchObject({ address: consumer.url, patterns: 'orders.*,payments.#' });
    const seqs = await bus.publish('orders.created', ['a', 'b', 'c']);
    await consumer.waitFor(3);
    // On PostgreSQL the position LIST shows is the stored one, which the next heartbeat moves.
    await until(`reachable listed at position ${seqs[2]}`, async () => (await listed(bus, 'reachable'))?.position === seqs[2]);
    expect(await listed(bus, 'reachable')).toMatchObject({ state: 'connected', position: seqs[2] });
  });

  test('an unreachable consumer is offline or retrying, never connected', async () => {
    const bus = await pushBus(scope);
    await bus.register('unreachable', await deadAddress(protocol), 'orders.*');
    await bus.publish('orders.created', ['a']);
    for (let i = 0; i < 5; i++) {
      expect(['offline', 'retrying']).toContain((await listed(bus, 'unreachable'))!.state);
      await sleep(60);
    }
    // Connection failures are recorded (seq null) as they happen (on PostgreSQL from the heartbeat that gives
    // this broker the consumer's push delivery on).
    const failures = await until('a connection failure recorded', () => {
      const rows = query<{ seq: number | null }>(bus.db, "SELECT seq FROM delivery_failures WHERE consumer = 'unreachable'");
      return rows.length > 0 && rows;
    });
    expect(failures.every((f) => f.seq === null)).toBe(true);
    expect(['offline', 'retrying']).toContain((await listed(bus, 'unreachable'))!.state);
  });

  test('an unreachable consumer shows its last failure, the refusal and the address, in LIST and GET /api/consumers', async () => {
    const bus = await pushBus(scope);
    const reachable = await consumerOf(protocol);
    await bus.register('reachable', reachable.url, 'orders.*');
    const address = await deadAddress(protocol);
    const hostPort = address.replace(/^\w+:\/\//, '');
    const before = Date.now();
    await bus.register('refused', address, 'orders.*');
    // On PostgreSQL, once the heartbeat has given this broker the consumer's push delivery.
    const line = await until('the refusal in LIST', async () => {
      const l = await listed(bus, 'refused');
      return l?.fields.last_failure !== undefined && l;
    });
    expect(line.fields.last_failure).toContain(`ECONNREFUSED ${hostPort}`);
    expect(Number(line.fields.last_failure_at)).toBeGreaterThanOrEqual(before);
    expect(Number(line.fields.last_failure_at)).toBeLessThanOrEqual(Date.now());
    const api = await apiConsumer(bus, 'refused');
    expect(api.last_failure?.error).toContain(`ECONNREFUSED ${hostPort}`);
    expect(api.last_failure!.at).toBeGreaterThanOrEqual(before);
    // A consumer that never failed has none.
    await stateBecomes(bus, 'reachable', ['connected']);
    expect((await listed(bus, 'reachable'))!.fields.last_failure).toBeUndefined();
    expect((await apiConsumer(bus, 'reachable')).last_failure).toBeNull();
  });

  test('a consumer whose endpoint goes away is retrying, and connected again once it is back', async () => {
    const bus = await pushBus(scope);
    const consumer = await consumerOf(protocol);
    await bus.register('bouncing', consumer.url, 'orders.*');
    await stateBecomes(bus, 'bouncing', ['connected']);
    await consumer.stop();
    await stateBecomes(bus, 'bouncing', ['retrying']);
    await consumer.start();
    await stateBecomes(bus, 'bouncing', ['connected'], 8_000);
  });
});

describe('LIST state of an http consumer', () => {
  test('an http consumer is retrying after a failed POST, and connected again after a successful one', async () => {
    const bus = await pushBus(scope, { EVENTBUS_ACK_TIMEOUT_MS: '400', EVENTBUS_MAX_DELIVERIES: '1000' });
    const consumer = await consumerOf('http');
    const url = consumer.url;
    await consumer.stop();
    await bus.register('webhook', url, 'orders.*');
    await bus.publish('orders.created', ['a']);
    await stateBecomes(bus, 'webhook', ['retrying']);
    await consumer.start();
    await consumer.waitFor(1, 8_000);
    await stateBecomes(bus, 'webhook', ['connected']);
  });
});
