// The registration port (PROTOCOL.md §4) over real sockets against the whole app on a temp database: the
// telnet walkthrough of docs/protocol.md, every command and its reply, every error code and whether the connection survives it,
// AUTH, registrations surviving a restart, EVENTBUS_ALLOWED_TARGETS and EVENTBUS_CONSUMER_<ID> (§1).
// Push delivery itself is not tested here. Registering an address makes the broker push to it, so a LIST
// line's state depends on the endpoint: lines are compared with the state masked (and checked to be one of
// the three), and tests that publish register endpoints nothing listens on, so nothing is delivered and
// positions move only by REPLAY.
import net from 'node:net';
import { describe, expect, test } from 'vitest';
import { startApp } from '../../src/app.js';
import { silentLogger } from '../../src/logger.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { onPostgres, testAppConfig } from '../helpers/broker.js';
import type { LineClient } from '../helpers/line-client.js';
import { sleep, testScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';

const scope = testScope();

/** Reply lines up to (not including) `END`. */
async function untilEnd(c: LineClient): Promise<string[]> {
  const lines: string[] = [];
  for (;;) {
    const line = await c.readLine();
    if (line === 'END') return lines;
    lines.push(line);
    if (lines.length > 1000) throw new Error(`no END after 1000 lines: ${JSON.stringify(lines.slice(-3))}`);
  }
}

/** The LIST lines, without the END. */
async function rawList(c: LineClient): Promise<string[]> {
  await c.write('LIST\n');
  return untilEnd(c);
}

const STATE = /^(\S+ \S+ \S+) (connected|retrying|offline|paused) (\d+) lag=\d+ in_flight=\d+ dead_letters=\d+( last_failure_at=\d+ last_failure=\S+)?$/;

/**
 * The LIST lines with the state field (which follows push delivery) shown as `<state>`, without the figures
 * after the position; a line that does not have the five fields with a known state and the figures is
 * returned as it is, so the comparison shows it.
 */
async function list(c: LineClient): Promise<string[]> {
  return mask(await rawList(c));
}

const mask = (lines: readonly string[]): string[] => lines.map((line) => line.replace(STATE, '$1 <state> $3'));

/** A local TCP port nothing listens on: bound by the OS, then released. */
async function deadPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Publishes `n` messages on `topic` through the transport port; resolves once all are durable. */
async function publish(bus: TestApp, topic: string, n: number): Promise<void> {
  const t = await bus.transport();
  for (let i = 1; i <= n; i++) expect(await t.send(`${topic}:message ${i}`)).toMatch(/^OK \d+$/);
}

/**
 * One connection's commands and what LIST shows after them: each command with the reply it must get (the
 * exact line, or a pattern; not checked when absent), then the LIST lines in any order, the state masked.
 */
interface Session {
  readonly name: string;
  readonly env?: Record<string, string>;
  readonly commands: readonly (readonly [command: string, reply?: string | RegExp])[];
  readonly listed: readonly string[];
}

/** One test per session, named by it, each on a fresh broker. */
function listedAfter(sessions: readonly Session[]): void {
  test.each(sessions.map((session) => [session.name, session] as const))('%s', async (_name, { env, commands, listed }) => {
    const bus = await startTestApp(scope, env);
    const c = await bus.registration();
    for (const [command, reply] of commands) {
      const answer = await c.send(command);
      if (typeof reply === 'string') expect(answer, command).toBe(reply);
      else if (reply !== undefined) expect(answer, command).toMatch(reply);
    }
    expect((await list(c)).sort()).toEqual([...listed].sort());
  });
}

describe('the telnet walkthrough', () => {
  listedAfter([
    {
      name: 'REGISTER and SUBSCRIBE answer exactly as documented; LIST shows consumer1 with its three patterns',
      commands: [
        ['REGISTER consumer1 tcp://127.0.0.1:9000 event1 event2', 'OK registered consumer1'],
        ['SUBSCRIBE consumer1 event3', 'OK subscribed consumer1 event3'],
      ],
      listed: ['consumer1 tcp://127.0.0.1:9000 event1,event2,event3 <state> 0'],
    },
    {
      name: 'two consumers registered as in the usage flow are both listed',
      commands: [
        ['REGISTER consumer1 tcp://127.0.0.1:9000 user_message system_log', 'OK registered consumer1'],
        ['REGISTER consumer2 tcp://127.0.0.1:9001 user_message', 'OK registered consumer2'],
      ],
      listed: ['consumer1 tcp://127.0.0.1:9000 user_message,system_log <state> 0', 'consumer2 tcp://127.0.0.1:9001 user_message <state> 0'],
    },
    {
      name: 'the dynamic registration example: REGISTER, SUBSCRIBE, UNSUBSCRIBE',
      commands: [
        ['REGISTER consumer3 tcp://127.0.0.1:9002 user_message', 'OK registered consumer3'],
        ['SUBSCRIBE consumer3 system_log', 'OK subscribed consumer3 system_log'],
        ['UNSUBSCRIBE consumer3 user_message', 'OK unsubscribed consumer3 user_message'],
      ],
      listed: ['consumer3 tcp://127.0.0.1:9002 system_log <state> 0'],
    },
  ]);
});

describe('REGISTER', () => {
  test('the consumer is in the broker with its address and patterns, at the head of the log', async () => {
    const bus = await startTestApp(scope);
    await publish(bus, 'event1', 3);
    const address = `ws://127.0.0.1:${await deadPort()}/ws`;
    const c = await bus.registration();
    expect(await c.send(`REGISTER consumer1 ${address} event1 orders.>`)).toBe('OK registered consumer1');
    expect(bus.app.broker.consumer('consumer1')).toMatchObject({
      id: 'consumer1',
      address,
      patterns: ['event1', 'orders.#'],
      position: 3,
    });
    expect(await list(c)).toEqual([`consumer1 ${address} event1,orders.# <state> 3`]);
  });

  listedAfter([
    {
      name: 're-registering an id updates its address and adds the new patterns to the old ones',
      commands: [
        ['REGISTER consumer1 tcp://127.0.0.1:9000 event1 event2', 'OK registered consumer1'],
        ['REGISTER consumer1 http://127.0.0.1:8080/hook event2 event4', 'OK registered consumer1'],
      ],
      listed: ['consumer1 http://127.0.0.1:8080/hook event1,event2,event4 <state> 0'],
    },
    {
      name: 're-registering without patterns keeps the old patterns',
      commands: [['REGISTER c tcp://127.0.0.1:9000 a b'], ['REGISTER c udp://127.0.0.1:514', 'OK registered c']],
      listed: ['c udp://127.0.0.1:514 a,b <state> 0'],
    },
    {
      name: '> is listed as #, and a pattern given again in either spelling is not listed twice',
      commands: [['REGISTER c tcp://127.0.0.1:9000 orders.> orders.#'], ['REGISTER c tcp://127.0.0.1:9000 orders.> chat.*']],
      listed: ['c tcp://127.0.0.1:9000 orders.#,chat.* <state> 0'],
    },
    {
      name: 'a consumer registered without patterns is listed with -',
      commands: [['REGISTER lonely tcp://127.0.0.1:9000', 'OK registered lonely']],
      listed: ['lonely tcp://127.0.0.1:9000 - <state> 0'],
    },
    {
      name: 'the address is listed in its stored form: lower-case host, explicit default port kept',
      commands: [['REGISTER h1 HTTP://Hooks.Example:80/In a']],
      listed: ['h1 http://hooks.example:80/In a <state> 0'],
    },
    {
      name: 'ids are case-sensitive: Consumer1 and consumer1 are two consumers',
      commands: [['REGISTER Consumer1 tcp://127.0.0.1:9000 a'], ['REGISTER consumer1 tcp://127.0.0.1:9001 b']],
      listed: ['Consumer1 tcp://127.0.0.1:9000 a <state> 0', 'consumer1 tcp://127.0.0.1:9001 b <state> 0'],
    },
  ]);

  test('a consumer read over the API is listed with - for its address, connected while subscribed', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.registration();
    const sub = await scope.subscribe(bus.app.broker, { pattern: 'event1', consumer: 'api' });
    expect(await rawList(c)).toEqual(['api - event1 connected 0 lag=0 in_flight=0 dead_letters=0']);
    sub.close();
    expect(await rawList(c)).toEqual(['api - event1 offline 0 lag=0 in_flight=0 dead_letters=0']);
  });

  test('a push consumer whose endpoint refuses connections is never listed as connected', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.registration();
    const port = await deadPort();
    await c.send(`REGISTER c tcp://127.0.0.1:${port} event1`);
    for (let i = 0; i < 5; i++) {
      expect(await rawList(c)).toEqual([
        expect.stringMatching(new RegExp(`^c tcp://127\\.0\\.0\\.1:${port} event1 (offline|retrying) 0 lag=0 in_flight=0 dead_letters=0( last_failure_at=\\d+ last_failure=\\S+)?$`)),
      ]);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
});

describe('SUBSCRIBE and UNSUBSCRIBE', () => {
  test('SUBSCRIBE adds patterns and echoes them normalised', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.registration();
    await c.send('REGISTER c tcp://127.0.0.1:9000 a');
    expect(await c.send('SUBSCRIBE c b.> c.* b.#')).toBe('OK subscribed c b.# c.*');
    expect(bus.app.broker.consumer('c')?.patterns).toEqual(['a', 'b.#', 'c.*']);
  });

  test("SUBSCRIBE and UNSUBSCRIBE change the patterns alone: the consumer's content filter and backoff stay", async () => {
    const bus = await startTestApp(scope);
    const c = await bus.registration();
    const filter = { 'payload.n': { $gte: 2 } };
    (await bus.app.broker.saveConsumer({ id: 'c', address: 'tcp://127.0.0.1:9000', patterns: ['a'], filter, backoffMs: [10, 20] }))._unsafeUnwrap();
    expect(await c.send('SUBSCRIBE c b')).toBe('OK subscribed c b');
    expect(await c.send('UNSUBSCRIBE c a')).toBe('OK unsubscribed c a');
    const kept = bus.app.broker.consumer('c')!;
    expect(kept.patterns).toEqual(['b']);
    expect(JSON.parse(kept.filter!)).toEqual(filter);
    expect(kept.backoffMs).toEqual([10, 20]);
  });

  listedAfter([
    {
      name: 'subscribing to a pattern the consumer already has does not list it twice',
      commands: [['REGISTER c tcp://127.0.0.1:9000 a b'], ['SUBSCRIBE c a', 'OK subscribed c a']],
      listed: ['c tcp://127.0.0.1:9000 a,b <state> 0'],
    },
    {
      name: 'UNSUBSCRIBE removes patterns and keeps the address',
      commands: [['REGISTER c tcp://127.0.0.1:9000 a b.# c'], ['UNSUBSCRIBE c b.> c', 'OK unsubscribed c b.# c']],
      listed: ['c tcp://127.0.0.1:9000 a <state> 0'],
    },
    {
      name: 'unsubscribing every pattern keeps the consumer, listed with -',
      commands: [['REGISTER c tcp://127.0.0.1:9000 a'], ['UNSUBSCRIBE c a', 'OK unsubscribed c a']],
      listed: ['c tcp://127.0.0.1:9000 - <state> 0'],
    },
  ]);
});

describe('UNREGISTER', () => {
  test('removes the consumer: LIST no longer shows it and the broker no longer has it', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.registration();
    await c.send('REGISTER consumer1 tcp://127.0.0.1:9000 event1');
    await c.send('REGISTER consumer2 tcp://127.0.0.1:9001 event2');
    expect(await c.send('UNREGISTER consumer1')).toBe('OK unregistered consumer1');
    expect(await list(c)).toEqual(['consumer2 tcp://127.0.0.1:9001 event2 <state> 0']);
    expect(bus.app.broker.consumer('consumer1')).toBeUndefined();
  });

  listedAfter([
    {
      name: 'an id registered again after UNREGISTER starts afresh, without its old patterns',
      commands: [['REGISTER c tcp://127.0.0.1:9000 old'], ['UNREGISTER c'], ['REGISTER c tcp://127.0.0.1:9000 new', 'OK registered c']],
      listed: ['c tcp://127.0.0.1:9000 new <state> 0'],
    },
  ]);
});

describe('REPLAY', () => {
  test('answers OK replaying and moves the consumer back to just before seq', async () => {
    const bus = await startTestApp(scope);
    await publish(bus, 'event1', 5);
    const address = `tcp://127.0.0.1:${await deadPort()}`;
    const c = await bus.registration();
    await c.send(`REGISTER consumer1 ${address} event1`);
    expect(bus.app.broker.consumer('consumer1')?.position).toBe(5);
    expect(await c.send('REPLAY consumer1 3')).toBe('OK replaying consumer1 from 3');
    expect(bus.app.broker.consumer('consumer1')?.position).toBe(2);
    expect(await list(c)).toEqual([`consumer1 ${address} event1 <state> 2`]);
  });

  test('REPLAY from 1 rewinds to the start of the log', async () => {
    const bus = await startTestApp(scope);
    await publish(bus, 'event1', 2);
    const c = await bus.registration();
    await c.send(`REGISTER c tcp://127.0.0.1:${await deadPort()} event1`);
    expect(await c.send('replay c 1')).toBe('OK replaying c from 1');
    expect(bus.app.broker.consumer('c')?.position).toBe(0);
  });
});

describe('PAUSE and RESUME', () => {
  test('a paused push consumer is sent nothing, LIST says paused with its lag, and RESUME sends what it missed in order', async () => {
    const bus = await startTestApp(scope);
    const received: string[] = [];
    const sockets = new Set<net.Socket>();
    const endpoint = net.createServer((socket) => {
      sockets.add(socket);
      let buffered = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => {
        buffered += chunk;
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        received.push(...lines);
      });
    });
    await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
    scope.defer(() => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => endpoint.close(resolve));
    });
    const address = `tcp://127.0.0.1:${(endpoint.address() as net.AddressInfo).port}`;
    const c = await bus.registration();
    expect(await c.send(`REGISTER pushed ${address} event1`)).toBe('OK registered pushed');
    await publish(bus, 'event1', 2);
    await until('two lines at the endpoint', () => received.length === 2);
    expect(await c.send('PAUSE pushed')).toBe('OK paused pushed');
    await publish(bus, 'event1', 3);
    await publish(bus, 'other', 1);
    await sleep(300);
    expect(received).toEqual(['message 1', 'message 2']);
    // On PostgreSQL the position LIST shows is the store's, written with the next progress batch.
    const pausedLine = `pushed ${address} event1 paused 2 lag=3 in_flight=0 dead_letters=0`;
    await until('LIST to show the paused position', async () => (await rawList(c))[0] === pausedLine);
    expect(received).toEqual(['message 1', 'message 2']);
    expect(await c.send('resume pushed')).toBe('OK resumed pushed');
    await until('five lines at the endpoint', () => received.length === 5);
    expect(received).toEqual(['message 1', 'message 2', 'message 1', 'message 2', 'message 3']);
    await until('the lag to be 0', async () => (await rawList(c))[0]!.includes(' lag=0 '));
    await until('the position to be 6', async () => (await list(c))[0] === `pushed ${address} event1 <state> 6`);
  });

  test('PAUSE and RESUME of an unknown consumer answer UNKNOWN_CONSUMER and keep the connection', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.registration();
    expect(await c.send('PAUSE nobody')).toMatch(/^ERR UNKNOWN_CONSUMER /);
    expect(await c.send('RESUME nobody')).toMatch(/^ERR UNKNOWN_CONSUMER /);
    expect(await c.send('PAUSE')).toMatch(/^ERR BAD_ARGS usage: PAUSE <id>/);
    expect(await c.send('LIST')).toBe('END');
  });
});

// The store plays no part: on SQLite only (vitest.config.ts).
describe.skipIf(onPostgres)('LIST, HELP, QUIT', () => {
  test('LIST with no consumers is END alone', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.registration();
    expect(await c.send('LIST')).toBe('END');
  });

  test('every LIST line has the five fields id, address, patterns, state, position, then lag, in_flight and dead_letters (and any last failure)', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.registration();
    await c.send('REGISTER a tcp://127.0.0.1:9000 x.# y');
    await c.send('REGISTER b http://[::1]:8080/in?k=v z.*');
    const lines = await rawList(c);
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      // Then the last failure, once a connection or a request has failed (nothing listens at these addresses).
      expect(line).toMatch(/^\S+ \S+ \S+ (connected|retrying|offline) \d+ lag=0 in_flight=0 dead_letters=0( last_failure_at=\d+ last_failure=\S+)?$/);
    }
  });

  test('HELP lists every command, then END', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.registration();
    await c.write('HELP\n');
    const help = await untilEnd(c);
    const keywords = help.map((line) => line.split(/\s+/)[0]);
    expect(keywords).toEqual(['REGISTER', 'SUBSCRIBE', 'UNSUBSCRIBE', 'UNREGISTER', 'REPLAY', 'PAUSE', 'RESUME', 'LIST', 'HELP', 'QUIT']);
    expect(help[0]).toContain('REGISTER <id> <proto>://<host>:<port>[/path] [pattern ...]');
    expect(await c.send('LIST')).toBe('END'); // still open, and nothing was left unread
  });

  test('QUIT answers OK bye and the server closes the connection', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.registration();
    expect(await c.send('REGISTER c tcp://127.0.0.1:9000 a')).toBe('OK registered c');
    expect(await c.send('QUIT')).toBe('OK bye');
    await c.closed();
  });

  test('commands sent after QUIT in the same write are neither answered nor carried out', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.registration();
    await c.write('QUIT\nREGISTER late tcp://127.0.0.1:9000 a\n');
    expect(await c.readLine()).toBe('OK bye');
    await c.closed();
    const other = await bus.registration();
    expect(await list(other)).toEqual([]);
  });

  test('commands before QUIT in the same write are all answered before OK bye', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.registration();
    await c.write('REGISTER a tcp://127.0.0.1:9000 x\nSUBSCRIBE a y\nQUIT\n');
    expect(await c.readLines(3)).toEqual(['OK registered a', 'OK subscribed a y', 'OK bye']);
    await c.closed();
  });

  test('keywords work in lower and mixed case', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.registration();
    expect(await c.send('register consumer1 tcp://127.0.0.1:9000 event1')).toBe('OK registered consumer1');
    expect(await c.send('Subscribe consumer1 event2')).toBe('OK subscribed consumer1 event2');
    expect(await c.send('unSubscribe consumer1 event1')).toBe('OK unsubscribed consumer1 event1');
    expect(await c.send('replay consumer1 1')).toBe('OK replaying consumer1 from 1');
    await c.write('list\n');
    expect(mask(await c.readLines(2))).toEqual(['consumer1 tcp://127.0.0.1:9000 event2 <state> 0', 'END']);
    await c.write('help\n');
    expect(await untilEnd(c)).toHaveLength(10);
    expect(await c.send('unregister consumer1')).toBe('OK unregistered consumer1');
    expect(await c.send('quit')).toBe('OK bye');
    await c.closed();
  });

  test('telnet line endings (\\r\\n) work', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.registration();
    await c.write('REGISTER consumer1 tcp://127.0.0.1:9000 event1 event2\r\nLIST\r\n');
    expect(mask(await c.readLines(3))).toEqual([
      'OK registered consumer1',
      'consumer1 tcp://127.0.0.1:9000 event1,event2 <state> 0',
      'END',
    ]);
  });

  test('pipelined commands are answered in order', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.registration();
    await c.write(
      ['REGISTER a tcp://127.0.0.1:9000 x', 'SUBSCRIBE a y', 'FOO', 'UNSUBSCRIBE a x', 'REGISTER b tcp://127.0.0.1:9001', 'UNREGISTER b', 'LIST', ''].join('\n'),
    );
    const replies = await c.readLines(8);
    expect(replies[0]).toBe('OK registered a');
    expect(replies[1]).toBe('OK subscribed a y');
    expect(replies[2]).toMatch(/^ERR UNKNOWN_COMMAND /);
    expect(mask(replies.slice(3))).toEqual(['OK unsubscribed a x', 'OK registered b', 'OK unregistered b', 'a tcp://127.0.0.1:9000 y <state> 0', 'END']);
  });
});

// The store plays no part: on SQLite only (vitest.config.ts).
describe.skipIf(onPostgres)('errors: ERR <CODE> <reason>, and the connection stays open', () => {
  test.each([
    ['an unknown command', 'UNKNOWN_COMMAND', 'PUBLISH event1 hello'],
    ['an empty line', 'UNKNOWN_COMMAND', ''],
    ['a line of spaces', 'UNKNOWN_COMMAND', '   '],
    ['REGISTER without an address', 'BAD_ARGS', 'REGISTER consumer1'],
    ['SUBSCRIBE without a pattern', 'BAD_ARGS', 'SUBSCRIBE consumer1'],
    ['UNREGISTER with two ids', 'BAD_ARGS', 'UNREGISTER a b'],
    ['REPLAY with seq 0', 'BAD_ARGS', 'REPLAY consumer1 0'],
    ['REPLAY with a word for seq', 'BAD_ARGS', 'REPLAY consumer1 abc'],
    ['LIST with an argument', 'BAD_ARGS', 'LIST all'],
    ['an id with a character ids may not hold', 'BAD_ARGS', 'REGISTER bad/id tcp://127.0.0.1:9000 a'],
    ['an unsupported protocol', 'BAD_ADDRESS', 'REGISTER consumer1 ftp://127.0.0.1:21 event1'],
    ['an address without a scheme', 'BAD_ADDRESS', 'REGISTER consumer1 127.0.0.1:9000 event1'],
    ['an address without a port', 'BAD_ADDRESS', 'REGISTER consumer1 tcp://127.0.0.1 event1'],
    ['port 0', 'BAD_ADDRESS', 'REGISTER consumer1 tcp://127.0.0.1:0 event1'],
    ['a tcp address with a path', 'BAD_ADDRESS', 'REGISTER consumer1 tcp://127.0.0.1:9000/x event1'],
    ['a bad pattern in REGISTER', 'BAD_PATTERN', 'REGISTER consumer1 tcp://127.0.0.1:9000 event1 a..b'],
    ['a bad pattern in SUBSCRIBE', 'BAD_PATTERN', 'SUBSCRIBE consumer1 #.a'],
    ['SUBSCRIBE to an unknown consumer', 'UNKNOWN_CONSUMER', 'SUBSCRIBE ghost event1'],
    ['UNSUBSCRIBE from an unknown consumer', 'UNKNOWN_CONSUMER', 'UNSUBSCRIBE ghost event1'],
    ['UNREGISTER of an unknown consumer', 'UNKNOWN_CONSUMER', 'UNREGISTER ghost'],
    ['REPLAY of an unknown consumer', 'UNKNOWN_CONSUMER', 'REPLAY ghost 1'],
  ])('%s → ERR %s', async (_what, code, line) => {
    const bus = await startTestApp(scope);
    const c = await bus.registration();
    const reply = await c.send(line);
    expect(reply).toMatch(new RegExp(`^ERR ${code} \\S`));
    expect(await list(c)).toEqual([]); // still open, and nothing was registered
    expect(c.isClosed).toBe(false);
  });

  test('each error on one connection in turn, then a REGISTER that works on the same connection', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.registration();
    const lines: [string, string][] = [
      ['HELLO', 'UNKNOWN_COMMAND'],
      ['REGISTER x', 'BAD_ARGS'],
      ['REGISTER x udp://h:514/path', 'BAD_ADDRESS'],
      ['REGISTER x udp://h:514 a.#.b', 'BAD_PATTERN'],
      ['REPLAY x 1', 'UNKNOWN_CONSUMER'],
    ];
    for (const [line, code] of lines) expect(await c.send(line), line).toMatch(new RegExp(`^ERR ${code} `));
    expect(await c.send('REGISTER x udp://h:514 a.#')).toBe('OK registered x');
  });

  test('the BAD_ADDRESS reason names the protocol and the supported ones', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.registration();
    expect(await c.send('REGISTER c ftp://127.0.0.1:21 a')).toBe(
      'ERR BAD_ADDRESS "ftp://127.0.0.1:21": unsupported protocol "ftp" (supported: tcp, udp, ws, http, wss, https)',
    );
  });

  test('BAD_ARGS for a missing argument carries the usage', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.registration();
    expect(await c.send('REGISTER consumer1')).toBe('ERR BAD_ARGS usage: REGISTER <id> <proto>://<host>:<port>[/path] [pattern ...]');
    expect(await c.send('REPLAY consumer1')).toMatch(/^ERR BAD_ARGS usage: REPLAY <id> <seq>/);
  });

  test('a REPLAY seq too large to be exact is BAD_ARGS and does not move the consumer', async () => {
    const bus = await startTestApp(scope);
    await publish(bus, 'event1', 2);
    const c = await bus.registration();
    await c.send(`REGISTER c tcp://127.0.0.1:${await deadPort()} event1`);
    expect(await c.send('REPLAY c 99999999999999999999')).toMatch(/^ERR BAD_ARGS /);
    expect(bus.app.broker.consumer('c')?.position).toBe(2);
  });

  listedAfter([
    {
      name: 'a failed re-REGISTER leaves the consumer as it was',
      commands: [
        ['REGISTER c tcp://127.0.0.1:9000 a'],
        ['REGISTER c tcp://127.0.0.1:9001 b c..d', /^ERR BAD_PATTERN /],
        ['REGISTER c gopher://127.0.0.1:70 b', /^ERR BAD_ADDRESS /],
      ],
      listed: ['c tcp://127.0.0.1:9000 a <state> 0'],
    },
  ]);

  test('a command over 64 KiB is ERR BAD_ARGS without closing the connection', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.registration();
    expect(await c.send(`REGISTER c tcp://127.0.0.1:9000 ${'a '.repeat(40_000)}`)).toMatch(/^ERR BAD_ARGS /);
    expect(await c.send('LIST')).toBe('END');
  });
});

// The store plays no part: on SQLite only (vitest.config.ts).
describe.skipIf(onPostgres)('AUTH (EVENTBUS_TOKEN set)', () => {
  const token = 's3cret-token';

  test('a command before AUTH is ERR UNAUTHORIZED, the connection is closed, nothing is registered', async () => {
    const bus = await startTestApp(scope, { EVENTBUS_TOKEN: token });
    const c = await bus.registration();
    await c.write('REGISTER consumer1 tcp://127.0.0.1:9000 event1\nLIST\n');
    expect(await c.readLine()).toMatch(/^ERR UNAUTHORIZED \S/);
    await c.closed();
    expect(bus.app.broker.consumers()).toEqual([]);
  });

  test('a wrong token is ERR UNAUTHORIZED and closes the connection', async () => {
    const bus = await startTestApp(scope, { EVENTBUS_TOKEN: token });
    const c = await bus.registration();
    expect(await c.send('AUTH wrong')).toMatch(/^ERR UNAUTHORIZED /);
    await c.closed();
  });

  listedAfter([
    {
      name: 'after AUTH with the token, commands work and errors no longer close the connection',
      env: { EVENTBUS_TOKEN: token },
      commands: [
        [`AUTH ${token}`, 'OK'],
        ['REGISTER consumer1 tcp://127.0.0.1:9000 event1', 'OK registered consumer1'],
        ['SUBSCRIBE ghost a', /^ERR UNKNOWN_CONSUMER /],
      ],
      listed: ['consumer1 tcp://127.0.0.1:9000 event1 <state> 0'],
    },
  ]);
});

describe('registrations are stored in the database', () => {
  test('they survive a restart on the same database, with their addresses and patterns', async () => {
    const dir = await scope.dir();
    const first = await startTestApp(scope, {}, { db: dir });
    const c1 = await first.registration();
    await c1.send('REGISTER consumer1 tcp://127.0.0.1:9000 event1 event2');
    await c1.send('SUBSCRIBE consumer1 event3 orders.>');
    await c1.send('REGISTER consumer2 http://hooks.internal:80/in user.*');
    await c1.send('REGISTER consumer3 udp://127.0.0.1:514 gone');
    await c1.send('UNSUBSCRIBE consumer2 user.*');
    await c1.send('SUBSCRIBE consumer2 chat.#');
    await c1.send('UNREGISTER consumer3');
    const before = await list(c1);
    await first.app.stop();

    const second = await startTestApp(scope, {}, { db: dir });
    const c2 = await second.registration();
    const after = await list(c2);
    expect(after.sort()).toEqual([
      'consumer1 tcp://127.0.0.1:9000 event1,event2,event3,orders.# <state> 0',
      'consumer2 http://hooks.internal:80/in chat.# <state> 0',
    ]);
    expect(after.sort()).toEqual(before.sort());
  });

  test('a REPLAY rewind survives a restart', async () => {
    const dir = await scope.dir();
    const first = await startTestApp(scope, {}, { db: dir });
    await publish(first, 'event1', 4);
    const c1 = await first.registration();
    await c1.send(`REGISTER c tcp://127.0.0.1:${await deadPort()} event1`);
    expect(await c1.send('REPLAY c 2')).toBe('OK replaying c from 2');
    await first.app.stop();

    const second = await startTestApp(scope, {}, { db: dir });
    expect(second.app.broker.consumer('c')?.position).toBe(1);
  });

  test('a consumer registered after messages were published starts at the head, also after a restart', async () => {
    const dir = await scope.dir();
    const first = await startTestApp(scope, {}, { db: dir });
    await publish(first, 'event1', 3);
    const address = `tcp://127.0.0.1:${await deadPort()}`;
    const c1 = await first.registration();
    await c1.send(`REGISTER c ${address} event1`);
    await first.app.stop();

    const second = await startTestApp(scope, {}, { db: dir });
    const c2 = await second.registration();
    expect(await list(c2)).toEqual([`c ${address} event1 <state> 3`]);
  });
});

// The store plays no part: on SQLite only (vitest.config.ts).
describe.skipIf(onPostgres)('EVENTBUS_ALLOWED_TARGETS', () => {
  const env = { EVENTBUS_ALLOWED_TARGETS: '127.0.0.1:9000, *.internal' };

  listedAfter([
    {
      name: 'an address no pattern matches is refused with BAD_ADDRESS and not registered',
      env,
      commands: [
        ['REGISTER c tcp://127.0.0.1:9001 a', /^ERR BAD_ADDRESS .*EVENTBUS_ALLOWED_TARGETS/],
        ['REGISTER d http://evil.example:80/x a', /^ERR BAD_ADDRESS /],
      ],
      listed: [],
    },
    {
      name: 'an address a pattern matches is accepted',
      env,
      commands: [
        ['REGISTER c tcp://127.0.0.1:9000 a', 'OK registered c'],
        ['REGISTER d http://hooks.internal:8080/in b', 'OK registered d'],
      ],
      listed: ['c tcp://127.0.0.1:9000 a <state> 0', 'd http://hooks.internal:8080/in b <state> 0'],
    },
    {
      name: 'moving a registered consumer to a refused address keeps its old address',
      env,
      commands: [['REGISTER c tcp://127.0.0.1:9000 a'], ['REGISTER c tcp://10.0.0.1:9000 b', /^ERR BAD_ADDRESS /]],
      listed: ['c tcp://127.0.0.1:9000 a <state> 0'],
    },
  ]);

  test('unset, every address is accepted', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.registration();
    // udp: nothing is sent while nothing is published, so no packet leaves this machine.
    expect(await c.send('REGISTER c udp://10.20.30.40:1 a')).toBe('OK registered c');
  });
});

describe('EVENTBUS_CONSUMER_<ID>', () => {
  test('registers the consumer at start-up, as REGISTER would', async () => {
    const bus = await startTestApp(scope, { EVENTBUS_CONSUMER_AUDIT: 'tcp://127.0.0.1:9100 audit.#' });
    const c = await bus.registration();
    expect(await list(c)).toEqual(['audit tcp://127.0.0.1:9100 audit.# <state> 0']);
    expect(bus.app.broker.consumer('audit')).toMatchObject({ address: 'tcp://127.0.0.1:9100', patterns: ['audit.#'] });
  });

  listedAfter([
    {
      name: 'the registered consumer can be managed over the registration port',
      env: { EVENTBUS_CONSUMER_AUDIT: 'tcp://127.0.0.1:9100 audit.#' },
      commands: [['SUBSCRIBE audit security.>', 'OK subscribed audit security.#']],
      listed: ['audit tcp://127.0.0.1:9100 audit.#,security.# <state> 0'],
    },
  ]);

  test('at a restart it updates the stored consumer: new address, patterns added', async () => {
    const dir = await scope.dir();
    const first = await startTestApp(scope, { EVENTBUS_CONSUMER_AUDIT: 'tcp://127.0.0.1:9100 audit.#' }, { db: dir });
    const c1 = await first.registration();
    await c1.send('SUBSCRIBE audit extra');
    await first.app.stop();

    const second = await startTestApp(scope, { EVENTBUS_CONSUMER_AUDIT: 'tcp://127.0.0.1:9200 audit.# more' }, { db: dir });
    const c2 = await second.registration();
    expect(await list(c2)).toEqual(['audit tcp://127.0.0.1:9200 audit.#,extra,more <state> 0']);
  });

  test('an unsupported protocol stops start-up with an error naming EVENTBUS_CONSUMER_AUDIT', async () => {
    const dir = await scope.dir();
    const started = await startApp(testAppConfig(dir, { EVENTBUS_CONSUMER_AUDIT: 'ftp://127.0.0.1:21 audit.#' }), silentLogger);
    if (started.isOk()) scope.defer(() => started.value.stop());
    expect(started.isErr()).toBe(true);
    expect(started._unsafeUnwrapErr().message).toMatch(/^EVENTBUS_CONSUMER_AUDIT: .*ftp/);
  });

  test('an address outside EVENTBUS_ALLOWED_TARGETS stops start-up with an error naming the setting', async () => {
    const dir = await scope.dir();
    const started = await startApp(
      testAppConfig(dir, { EVENTBUS_CONSUMER_AUDIT: 'tcp://10.0.0.1:9100 audit.#', EVENTBUS_ALLOWED_TARGETS: '127.0.0.1' }),
      silentLogger,
    );
    if (started.isOk()) scope.defer(() => started.value.stop());
    expect(started._unsafeUnwrapErr().message).toMatch(/^EVENTBUS_CONSUMER_AUDIT: .*EVENTBUS_ALLOWED_TARGETS/);
  });

  test('a failed start-up releases the database: the app starts on it afterwards', async () => {
    const dir = await scope.dir();
    const failed = await startApp(testAppConfig(dir, { EVENTBUS_CONSUMER_AUDIT: 'ftp://127.0.0.1:21' }), silentLogger);
    if (failed.isOk()) scope.defer(() => failed.value.stop());
    expect(failed.isErr()).toBe(true);
    const bus = await startTestApp(scope, {}, { db: dir });
    const c = await bus.registration();
    expect(await list(c)).toEqual([]);
  });
});
