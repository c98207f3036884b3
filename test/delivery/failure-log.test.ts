// What a failing push consumer says in the log: its first failure as a warning (consumer, address, error),
// then at most a line per EVENTBUS_PUSH_FAILURE_LOG_INTERVAL while it keeps failing, and one info line when
// it delivers again. FailureLog on a clock of its own, then the whole app with a refused tcp port and an http
// endpoint answering 500, its log lines captured.
import { Writable } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { FailureLog } from '../../src/delivery/failure-log.js';
import { createLogger } from '../../src/logger.js';
import { endpoint, pushBus, startEndpoint } from '../helpers/consumers.js';
import { query, testScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';

const scope = testScope();

type Line = Record<string, unknown> & { level: number; msg: string };
const WARN = 40;
const INFO = 30;

/** A logger at info whose lines land in `lines`, parsed. */
function capture(): { logger: ReturnType<typeof createLogger>; lines: Line[] } {
  const lines: Line[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line) as Line);
      done();
    },
  });
  return { logger: createLogger('info', sink), lines };
}

describe('FailureLog', () => {
  const INTERVAL = 60_000;
  const make = () => {
    let now = 1_000_000;
    const { logger, lines } = capture();
    const log = new FailureLog(logger, INTERVAL, () => now);
    return { log, lines, advance: (ms: number) => (now += ms), said: () => lines.map((l) => [l.level, l.msg]) };
  };

  test('the first failure is a warning with the error; the next ones within the interval say nothing', () => {
    const { log, lines, advance, said } = make();
    log.failed('cannot connect: connect ECONNREFUSED 127.0.0.1:9997');
    for (let i = 0; i < 50; i++) {
      advance(1000);
      log.failed('cannot connect: connect ECONNREFUSED 127.0.0.1:9997');
    }
    expect(said()).toEqual([[WARN, 'push consumer failing; retrying with backoff']]);
    expect(lines[0]).toMatchObject({ error: 'cannot connect: connect ECONNREFUSED 127.0.0.1:9997' });
  });

  test('while it keeps failing, a line per interval with the failures since the last one; then one line when it delivers', () => {
    const { log, lines, advance, said } = make();
    log.failed('HTTP 500');
    for (let i = 0; i < 59; i++) {
      advance(1000);
      log.failed('HTTP 500');
    }
    advance(1000);
    log.failed('HTTP 503');
    expect(said()).toEqual([
      [WARN, 'push consumer failing; retrying with backoff'],
      [WARN, 'push consumer still failing'],
    ]);
    expect(lines[1]).toMatchObject({ error: 'HTTP 503', failures_since_last_line: 60 });
    advance(500);
    log.succeeded();
    log.succeeded();
    expect(said().slice(2)).toEqual([[INFO, 'push consumer delivering again']]);
    expect(lines[2]).toMatchObject({ failures: 61, failing_ms: 60_500 });
  });

  test('a consumer that flaps within the interval is told of once: its later runs, and their ends, are quiet', () => {
    const { log, lines, advance, said } = make();
    for (let i = 0; i < 10; i++) {
      log.failed('disconnected: connection reset');
      advance(100);
      log.succeeded();
      advance(100);
    }
    expect(said()).toEqual([
      [WARN, 'push consumer failing; retrying with backoff'],
      [INFO, 'push consumer delivering again'],
    ]);
    advance(INTERVAL);
    log.failed('disconnected: connection reset');
    expect(said().slice(2)).toEqual([[WARN, 'push consumer failing; retrying with backoff']]);
    expect(lines[2]).toMatchObject({ failures_since_last_line: 10 });
  });

  test('success without a failure says nothing', () => {
    const { log, said } = make();
    log.succeeded();
    expect(said()).toEqual([]);
  });
});

describe('the log of a failing push consumer', () => {
  const failing = (lines: Line[], id: string) => lines.filter((l) => l.consumer === id && l.level === WARN);
  const recovered = (lines: Line[], id: string) => lines.filter((l) => l.consumer === id && l.level === INFO && l.msg === 'push consumer delivering again');

  test('a tcp consumer on a refused port: one warning for many refusals, one info line once it is reached', async () => {
    const { logger, lines } = capture();
    const bus = await pushBus(scope, {}, logger);
    const ep = endpoint('tcp');
    await ep.start();
    await ep.stop(); // its port, refused until it starts again
    scope.defer(() => ep.stop());
    await bus.register('refused', ep.url, 'orders.*');
    await until('three refusals recorded', () => query(bus.db, "SELECT id FROM delivery_failures WHERE consumer = 'refused'").length >= 3);
    expect(failing(lines, 'refused')).toEqual([
      expect.objectContaining({ msg: 'push consumer failing; retrying with backoff', consumer: 'refused', address: ep.url, error: expect.stringContaining(`ECONNREFUSED 127.0.0.1:${ep.port}`) }),
    ]);
    await ep.start();
    await bus.publish('orders.created', ['o-1']);
    await ep.waitFor(1, 20_000);
    const back = await until('the recovery line', () => recovered(lines, 'refused').length > 0 && recovered(lines, 'refused'));
    expect(back).toEqual([expect.objectContaining({ address: ep.url, failures: expect.any(Number) })]);
    expect(back[0]!.failures).toBeGreaterThanOrEqual(3);
    expect(failing(lines, 'refused')).toHaveLength(1);
  });

  test('an http endpoint answering 500: one warning naming the status and the body, one info line after the 2xx', async () => {
    const { logger, lines } = capture();
    const bus = await pushBus(scope, { EVENTBUS_ACK_TIMEOUT_MS: '400', EVENTBUS_MAX_DELIVERIES: '10' }, logger);
    const ep = await startEndpoint('http', { status: (_b, n) => (n < 3 ? 500 : 200), answer: (_b, n) => (n < 3 ? 'out of connections' : '') });
    scope.defer(() => ep.stop());
    await bus.register('webhook', ep.url, 'orders.*');
    await bus.publish('orders.created', ['o-1']);
    await ep.waitFor(4);
    await until('the recovery line', () => recovered(lines, 'webhook').length > 0);
    expect(failing(lines, 'webhook')).toEqual([
      expect.objectContaining({ address: ep.url, error: 'HTTP 500 Internal Server Error: out of connections' }),
    ]);
    expect(recovered(lines, 'webhook')).toEqual([expect.objectContaining({ failures: 3 })]);
  });
});
