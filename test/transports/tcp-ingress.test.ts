// The transport port (PROTOCOL.md §3, §7) over real sockets against the whole app on a temp database: both
// line forms, one reply per line in order, every error code and whether the connection survives it, AUTH,
// the connection limit, and backpressure (a client that does not read never holds up another).
import { describe, expect, test } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { onPostgres } from '../helpers/broker.js';
import { count, rows, sleep, testScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';

const scope = testScope();

/** The seq of an `OK <seq>` reply; fails the test on anything else. */
function seqOf(reply: string): number {
  const m = /^OK (\d+)$/.exec(reply);
  if (!m) throw new Error(`expected OK <seq>, got ${JSON.stringify(reply)}`);
  return Number(m[1]);
}

/** app.stop() resolves within `ms` (after which the scope's own stop() returns at once). */
async function expectStopsWithin(bus: TestApp, ms: number): Promise<void> {
  const outcome = await Promise.race([bus.app.stop().then(() => 'stopped'), sleep(ms).then(() => 'still stopping')]);
  expect(outcome, `app.stop() had not finished after ${ms} ms`).toBe('stopped');
}

function expectStrictlyIncreasing(seqs: readonly number[]): void {
  const firstBad = seqs.findIndex((s, i) => i > 0 && s <= seqs[i - 1]!);
  expect(firstBad, `seq ${seqs[firstBad]} after ${seqs[firstBad - 1]} at reply ${firstBad}`).toBe(-1);
}

describe('publishing on the transport port', () => {
  test('the telnet walkthrough: both line forms answer OK 1, OK 2 and land in the messages table', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.transport();
    expect(await c.send('user_message:Hello from producer!')).toBe('OK 1');
    expect(await c.send('{"msg": "Hello from producer!", "event_name": "user_message"}')).toBe('OK 2');
    expect(rows(bus).map((r) => [r.seq, r.topic, r.payload])).toEqual([
      [1, 'user_message', 'Hello from producer!'],
      [2, 'user_message', 'Hello from producer!'],
    ]);
  });

  test('telnet-style \\r\\n line endings are not part of the payload', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.transport();
    await c.write('chat.user1:hi there\r\n{"event_name":"chat.user2","msg":"yo"}\r\n');
    expect(await c.readLines(2)).toEqual(['OK 1', 'OK 2']);
    expect(rows(bus).map((r) => [r.topic, r.payload])).toEqual([
      ['chat.user1', 'hi there'],
      ['chat.user2', 'yo'],
    ]);
  });

  test('the payload is stored verbatim: further colons, spaces, JSON text, unicode', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.transport();
    const payloads = ['a:b::c', '  padded  ', '{"id":1,"note":"x: y"}', 'héllo 世界 🎉'];
    await c.write(payloads.map((p) => `orders.created:${p}\n`).join(''));
    expect(await c.readLines(payloads.length)).toEqual(['OK 1', 'OK 2', 'OK 3', 'OK 4']);
    expect(rows(bus).map((r) => r.payload)).toEqual(payloads);
  });

  test('the JSON form stores message_id, ttl and metadata; a non-string msg is stored as JSON text', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.transport();
    expect(await c.send('{"event_name":"orders.created","msg":{"id":7,"items":[1,2]},"message_id":"order-7","ttl":60,"metadata":{"region":"eu"}}')).toBe('OK 1');
    expect(await c.send('{"event_name":"orders.created","msg":"plain"}')).toBe('OK 2');
    const [structured, plain] = rows(bus);
    expect(structured).toMatchObject({ seq: 1, message_id: 'order-7', topic: 'orders.created', ttl: 60 });
    expect(JSON.parse(structured!.payload)).toEqual({ id: 7, items: [1, 2] });
    expect(JSON.parse(structured!.metadata)).toMatchObject({ content_type: 'application/json', region: 'eu' });
    expect(plain).toMatchObject({ seq: 2, message_id: null, payload: 'plain', ttl: 0 });
    expect(JSON.parse(plain!.metadata)).toMatchObject({ content_type: 'text/plain' });
  });

  test('a repeated message_id answers OK <original seq> DUPLICATE and stores nothing', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.transport();
    expect(await c.send('{"event_name":"t","msg":"first","message_id":"m-1"}')).toBe('OK 1');
    expect(await c.send('t:between')).toBe('OK 2');
    expect(await c.send('{"event_name":"t","msg":"second","message_id":"m-1"}')).toBe('OK 1 DUPLICATE');
    // The same id twice in one write: the second is a duplicate of the first, even before either is durable.
    await c.write('{"event_name":"t","msg":"a","message_id":"m-2"}\n{"event_name":"t","msg":"b","message_id":"m-2"}\n');
    const [stored, repeated] = await c.readLines(2);
    const seq = seqOf(stored!);
    expect(seq).toBe(3); // a duplicate uses up no seq
    expect(repeated).toBe(`OK ${seq} DUPLICATE`);
    expect(rows(bus).map((r) => [r.seq, r.message_id, r.payload])).toEqual([
      [1, 'm-1', 'first'],
      [2, null, 'between'],
      [seq, 'm-2', 'a'],
    ]);
  });

  test('10,000 lines pipelined in one write are all answered OK <seq>, in line order, seqs strictly increasing', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.transport();
    const n = 10_000;
    await c.write(Array.from({ length: n }, (_, i) => `load.test:${i}\n`).join(''));
    const replies = await c.readLines(n, 20_000);
    const seqs = replies.map(seqOf);
    expectStrictlyIncreasing(seqs);
    // In line order: the message stored under each reply's seq is the line sent at that position.
    const payloadBySeq = new Map(rows(bus).map((r) => [r.seq, r.payload]));
    expect(seqs.every((seq, i) => payloadBySeq.get(seq) === String(i))).toBe(true);
    expect(count(bus)).toBe(n);
  });

  test('two connections publishing at once each get their own replies in their own order', async () => {
    const bus = await startTestApp(scope);
    const [a, b] = await Promise.all([bus.transport(), bus.transport()]);
    const n = 500;
    await Promise.all([
      a.write(Array.from({ length: n }, (_, i) => `a:${i}\n`).join('')),
      b.write(Array.from({ length: n }, (_, i) => `b:${i}\n`).join('')),
    ]);
    const [ra, rb] = await Promise.all([a.readLines(n, 10_000), b.readLines(n, 10_000)]);
    const sa = ra.map(seqOf);
    const sb = rb.map(seqOf);
    expectStrictlyIncreasing(sa);
    expectStrictlyIncreasing(sb);
    expect(new Set([...sa, ...sb]).size).toBe(2 * n);
  });
});

describe('errors on the transport port: one ERR line each, and the connection stays open', () => {
  test('an empty line, a whitespace line, a line without a colon and broken JSON are ERR BAD_FORMAT', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.transport();
    expect(await c.send('')).toMatch(/^ERR BAD_FORMAT \S/);
    expect(await c.send('   ')).toMatch(/^ERR BAD_FORMAT \S/);
    expect(await c.send('no colon here')).toMatch(/^ERR BAD_FORMAT \S/);
    expect(await c.send('{"event_name":"t","msg":')).toMatch(/^ERR BAD_FORMAT \S/);
    expect(await c.send('{"msg":"x"}')).toMatch(/^ERR BAD_FORMAT .*event_name/);
    expect(await c.send('{"event_name":"t"}')).toMatch(/^ERR BAD_FORMAT .*msg/);
    expect(c.isClosed).toBe(false);
    expect(await c.send('t:still works')).toBe('OK 1');
    expect(count(bus)).toBe(1);
  });

  test('bad topics are ERR BAD_TOPIC, in both forms', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.transport();
    for (const line of ['bad topic:x', ':x', 'a..b:x', 'chat.:x', `${'t'.repeat(256)}:x`, '{"event_name":"","msg":"x"}', '{"event_name":"a b","msg":"x"}']) {
      expect(await c.send(line), line.slice(0, 40)).toMatch(/^ERR BAD_TOPIC \S/);
    }
    expect(await c.send('chat.user1:ok')).toBe('OK 1');
    expect(count(bus)).toBe(1);
  });

  test('a payload over EVENTBUS_MAX_PAYLOAD is ERR TOO_LARGE; one exactly at it is stored', async () => {
    const bus = await startTestApp(scope, { EVENTBUS_MAX_PAYLOAD: '100' });
    const c = await bus.transport();
    expect(await c.send(`t:${'x'.repeat(101)}`)).toMatch(/^ERR TOO_LARGE \S/);
    expect(await c.send(`{"event_name":"t","msg":"${'y'.repeat(101)}"}`)).toMatch(/^ERR TOO_LARGE \S/);
    expect(await c.send(`t:${'é'.repeat(51)}`)).toMatch(/^ERR TOO_LARGE \S/); // 51 characters, 102 bytes
    expect(await c.send(`t:${'x'.repeat(100)}`)).toBe('OK 1');
    expect(rows(bus).map((r) => r.payload.length)).toEqual([100]);
  });

  test('a line far over the limit is ERR TOO_LARGE once, and the lines around it are answered normally', async () => {
    const bus = await startTestApp(scope, { EVENTBUS_MAX_PAYLOAD: '100' });
    const c = await bus.transport();
    const huge = `t:${'z'.repeat(4 * 1024 * 1024)}`;
    await c.write(`before:1\n${huge}\nafter:2\n`);
    const replies = await c.readLines(3, 10_000);
    expect(replies[0]).toBe('OK 1');
    expect(replies[1]).toMatch(/^ERR TOO_LARGE \S/);
    expect(replies[2]).toBe('OK 2');
    expect(rows(bus).map((r) => r.topic)).toEqual(['before', 'after']);
    expect(await c.send('again:3')).toBe('OK 3');
  });

  test('an over-long line sent in many small writes is one ERR TOO_LARGE', async () => {
    const bus = await startTestApp(scope, { EVENTBUS_MAX_PAYLOAD: '100' });
    const c = await bus.transport();
    await c.write('t:');
    for (let i = 0; i < 50; i++) {
      await c.write('w'.repeat(100));
      await sleep(1);
    }
    await c.write('\nt:next\n');
    expect(await c.readLines(2)).toEqual([expect.stringMatching(/^ERR TOO_LARGE /), 'OK 1']);
  });

  test('an error reason never breaks the one-line-per-reply rule, even when it quotes a \\r from the line', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.transport();
    await c.write('{"event_name":"t",\r"msg":x}\nbad\rtopic:x\nt:ok\n');
    const replies = await c.readLines(3);
    expect(replies[0]).toMatch(/^ERR BAD_FORMAT [^\r]*$/);
    expect(replies[1]).toMatch(/^ERR BAD_TOPIC [^\r]*$/);
    expect(replies[2]).toBe('OK 1');
  });

  test('every refusal on this port uses one of the codes §3 lists', async () => {
    // §3: "Codes used here: BAD_FORMAT, BAD_TOPIC, TOO_LARGE, UNAUTHORIZED, UNAVAILABLE".
    const bus = await startTestApp(scope);
    const c = await bus.transport();
    const lines = [
      '{"event_name":"t","msg":"x","message_id":""}',
      `{"event_name":"t","msg":"x","message_id":"${'m'.repeat(300)}"}`,
      '{"event_name":"t","msg":"x","metadata":{"content_type":5}}',
    ];
    for (const line of lines) {
      expect(await c.send(line), line.slice(0, 60)).toMatch(/^ERR (BAD_FORMAT|BAD_TOPIC|TOO_LARGE|UNAUTHORIZED|UNAVAILABLE) /);
    }
    expect(await c.send('t:ok')).toBe('OK 1');
  });

  test('good and bad lines in one write get one reply each, in line order', async () => {
    const bus = await startTestApp(scope, { EVENTBUS_MAX_PAYLOAD: '100' });
    const c = await bus.transport();
    await c.write(['a:1', '', 'bad topic:x', `b:${'x'.repeat(200)}`, 'c:2', '{"broken', 'd:3', `e:${'x'.repeat(5000)}`, 'f:4', ''].join('\n'));
    const replies = await c.readLines(9);
    expect(replies.map((r) => r.split(' ').slice(0, 2).join(' '))).toEqual([
      'OK 1',
      'ERR BAD_FORMAT',
      'ERR BAD_TOPIC',
      'ERR TOO_LARGE',
      'OK 2',
      'ERR BAD_FORMAT',
      'OK 3',
      'ERR TOO_LARGE',
      'OK 4',
    ]);
  });
});

// The store plays no part: on SQLite only (vitest.config.ts).
describe.skipIf(onPostgres)('AUTH (EVENTBUS_TOKEN set)', () => {
  const TOKEN = 's3cret-token';

  test('publishing without AUTH first is ERR UNAUTHORIZED, the connection is closed, nothing is stored', async () => {
    const bus = await startTestApp(scope, { EVENTBUS_TOKEN: TOKEN });
    const c = await bus.transport();
    expect(await c.send('user_message:Hello from producer!')).toBe('ERR UNAUTHORIZED send AUTH <token> first');
    await c.closed(2_000);
    expect(count(bus)).toBe(0);
  });

  test('a wrong token is ERR UNAUTHORIZED and the connection is closed; lines sent after it are ignored', async () => {
    const bus = await startTestApp(scope, { EVENTBUS_TOKEN: TOKEN });
    const c = await bus.transport();
    await c.write('AUTH wrong-token\nt:1\nt:2\n');
    // It did send AUTH: the reply says the token is what is wrong.
    expect(await c.readLine()).toBe("ERR UNAUTHORIZED not a valid token: AUTH takes EVENTBUS_TOKEN or a credential's token");
    await c.closed(2_000);
    await sleep(100);
    expect(count(bus)).toBe(0);
  });

  test('AUTH without a token, or an empty first line, is ERR UNAUTHORIZED and closes', async () => {
    const bus = await startTestApp(scope, { EVENTBUS_TOKEN: TOKEN });
    for (const [first, reply] of [['AUTH', 'ERR UNAUTHORIZED AUTH needs the token: AUTH <token>'], ['', 'ERR UNAUTHORIZED send AUTH <token> first']]) {
      const c = await bus.transport();
      expect(await c.send(first!)).toBe(reply);
      await c.closed(2_000);
    }
  });

  test('the right token answers OK, then publishing works on that connection', async () => {
    const bus = await startTestApp(scope, { EVENTBUS_TOKEN: TOKEN });
    const c = await bus.transport();
    expect(await c.send(`AUTH ${TOKEN}`)).toBe('OK');
    expect(await c.send('user_message:Hello from producer!')).toBe('OK 1');
    expect(await c.send('{"msg": "Hello from producer!", "event_name": "user_message"}')).toBe('OK 2');
    expect(c.isClosed).toBe(false);
  });

  test('AUTH pipelined with publishes in one write, with \\r\\n endings', async () => {
    const bus = await startTestApp(scope, { EVENTBUS_TOKEN: TOKEN });
    const c = await bus.transport();
    await c.write(`AUTH ${TOKEN}\r\nt:1\r\nt:2\r\n`);
    expect(await c.readLines(3)).toEqual(['OK', 'OK 1', 'OK 2']);
  });

  test('after AUTH, errors keep the connection open as usual', async () => {
    const bus = await startTestApp(scope, { EVENTBUS_TOKEN: TOKEN, EVENTBUS_MAX_PAYLOAD: '100' });
    const c = await bus.transport();
    expect(await c.send(`AUTH ${TOKEN}`)).toBe('OK');
    expect(await c.send('')).toMatch(/^ERR BAD_FORMAT /);
    expect(await c.send('bad topic:x')).toMatch(/^ERR BAD_TOPIC /);
    expect(await c.send(`t:${'x'.repeat(5000)}`)).toMatch(/^ERR TOO_LARGE /);
    expect(await c.send('t:ok')).toBe('OK 1');
  });

  test('an over-long first line is not a way around AUTH: ERR UNAUTHORIZED and close', async () => {
    const bus = await startTestApp(scope, { EVENTBUS_TOKEN: TOKEN, EVENTBUS_MAX_PAYLOAD: '100' });
    const c = await bus.transport();
    expect(await c.send(`t:${'x'.repeat(5000)}`)).toMatch(/^ERR UNAUTHORIZED /);
    await c.closed(2_000);
  });
});

// The store plays no part: on SQLite only (vitest.config.ts).
describe.skipIf(onPostgres)('EVENTBUS_MAX_CONNECTIONS', () => {
  test('one connection over the limit gets ERR UNAVAILABLE and is closed; the others keep working', async () => {
    const bus = await startTestApp(scope, { EVENTBUS_MAX_CONNECTIONS: '2' });
    const a = await bus.transport();
    const b = await bus.transport();
    // A reply proves each was accepted (and counted) before the third arrives.
    expect(await a.send('a:1')).toBe('OK 1');
    expect(await b.send('b:1')).toBe('OK 2');
    const c = await bus.transport();
    expect(await c.readLine(2_000)).toMatch(/^ERR UNAVAILABLE /);
    await c.closed(2_000);
    expect(await a.send('a:2')).toBe('OK 3');
    expect(await b.send('b:2')).toBe('OK 4');
    expect(count(bus)).toBe(4);
  });

  test('a refused connection that sent lines gets nothing stored, and the server lets go of it', async () => {
    const bus = await startTestApp(scope, { EVENTBUS_MAX_CONNECTIONS: '1' });
    const a = await bus.transport();
    expect(await a.send('a:1')).toBe('OK 1');
    const c = await bus.transport();
    await c.write('c:1\nc:2\n').catch(() => {});
    expect(await c.readLine(2_000)).toMatch(/^ERR UNAVAILABLE /);
    await c.closed(2_000);
    expect(await a.send('a:2')).toBe('OK 2');
    expect(rows(bus).map((r) => r.topic)).toEqual(['a', 'a']);
    // A refused socket the server still holds would keep stop() waiting (and an fd open) forever.
    a.destroy();
    await expectStopsWithin(bus, 3_000);
  });

  test('once a connection closes, its place can be taken', async () => {
    const bus = await startTestApp(scope, { EVENTBUS_MAX_CONNECTIONS: '1' });
    const a = await bus.transport();
    expect(await a.send('a:1')).toBe('OK 1');
    a.destroy();
    // The server learns of the close asynchronously: retry briefly. A refused attempt sends nothing.
    const accepted = await until(
      'a connection accepted after the only one closed',
      async () => {
        const b = await bus.transport();
        const refusal = await b.readLine(150).catch(() => undefined);
        if (refusal === undefined) return b;
        expect(refusal).toMatch(/^ERR UNAVAILABLE /);
        return undefined;
      },
      2_000,
    );
    expect(await accepted.send('b:1')).toBe('OK 2');
  });

  test('clients that connect over the limit, send and reset at once neither crash the broker nor linger in it', async () => {
    const bus = await startTestApp(scope, { EVENTBUS_MAX_CONNECTIONS: '1' });
    const a = await bus.transport();
    expect(await a.send('a:1')).toBe('OK 1');
    for (let i = 0; i < 20; i++) {
      const c = await bus.transport();
      c.socket.write('x:'.padEnd(64 * 1024, 'x'));
      c.socket.resetAndDestroy();
    }
    await sleep(200);
    expect(await a.send('a:2')).toBe('OK 2');
    a.destroy();
    await expectStopsWithin(bus, 3_000);
  });
});

describe('backpressure and disconnects', () => {
  test('a client that pipelines 20,000 lines without reading does not hold up another; it later gets every reply in order', async () => {
    const bus = await startTestApp(scope, { EVENTBUS_MAX_PIPELINED_LINES: '64' });
    const n = 20_000;
    const slow = await bus.transport({ paused: true });
    // Not awaited: with the broker pausing this connection, the write may only finish once replies are read.
    slow.socket.write(Array.from({ length: n }, (_, i) => `slow:${i}\n`).join(''));
    await sleep(200);

    const other = await bus.transport();
    const started = Date.now();
    const reply = await other.send('other:hello', 2_000);
    expect(seqOf(reply)).toBeGreaterThan(0);
    expect(Date.now() - started).toBeLessThan(2_000);

    slow.resume();
    const replies = await slow.readLines(n, 15_000);
    const seqs = replies.map(seqOf);
    expectStrictlyIncreasing(seqs);
    const payloadBySeq = new Map(rows(bus).map((r) => [r.seq, r.payload]));
    expect(seqs.every((seq, i) => payloadBySeq.get(seq) === String(i))).toBe(true);
    expect(count(bus)).toBe(n + 1);
  });

  test('a client that disconnects right after sending lines does not crash the broker; the next client works', async () => {
    const bus = await startTestApp(scope, { EVENTBUS_MAX_PIPELINED_LINES: '64' });
    for (let round = 0; round < 5; round++) {
      const gone = await bus.transport();
      gone.socket.write(Array.from({ length: 2_000 }, (_, i) => `gone:${i}\n`).join(''));
      if (round % 2 === 0) gone.destroy();
      else gone.socket.resetAndDestroy();
    }
    await sleep(200);
    const next = await bus.transport();
    expect(await next.send('next:1')).toMatch(/^OK \d+$/);
    // Whatever was stored from the vanished clients was stored whole, in order.
    const stored = rows(bus).filter((r) => r.topic === 'gone');
    expectStrictlyIncreasing(stored.map((r) => r.seq));
  });

  test('a client that sends its lines and half-closes (like nc -q) still gets every reply, then the server closes', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.transport();
    c.socket.end('user_message:one\nuser_message:two\nbad topic:x\nuser_message:three');
    expect(await c.readLines(4, 5_000)).toEqual(['OK 1', 'OK 2', expect.stringMatching(/^ERR BAD_TOPIC /), 'OK 3']);
    await c.closed(2_000);
  });

  test('stopping the app with connections open and lines in flight closes them and stops cleanly', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.transport();
    expect(await c.send('t:1')).toBe('OK 1');
    c.socket.write(Array.from({ length: 1_000 }, (_, i) => `t:${i}\n`).join(''));
    await bus.app.stop();
    await c.closed(2_000);
  });
});

describe('publishing for later on the transport port (PROTOCOL.md §11)', () => {
  test('a JSON line with delay_ms or deliver_at: OK scheduled <id> <at>, DUPLICATE for its message_id again, appended once due', async () => {
    const bus = await startTestApp(scope);
    const c = await bus.transport();
    const reply = await c.send('{"event_name":"later.a","msg":"x","delay_ms":300,"message_id":"m-1"}');
    const m = /^OK scheduled (\S+) (\d+)$/.exec(reply);
    expect(m, reply).not.toBeNull();
    expect(await c.send('{"event_name":"later.a","msg":"y","delay_ms":300,"message_id":"m-1"}')).toBe(`${reply} DUPLICATE`);
    expect(await c.send(`{"event_name":"later.b","msg":"z","deliver_at":${Date.now() - 5}}`)).toBe('OK 1');
    await until('appended once due', () => rows(bus).length === 2);
    expect(rows(bus).map((r) => [r.seq, r.topic, r.message_id])).toEqual([
      [1, 'later.b', null],
      [2, 'later.a', 'm-1'],
    ]);
    expect(rows(bus)[1]!.created_at).toBeGreaterThanOrEqual(Number(m![2]));
    // §3's codes: the broker's BAD_ARGS is BAD_FORMAT on this port.
    expect(await c.send('{"event_name":"later.a","msg":"x","delay_ms":-5}')).toMatch(/^ERR BAD_FORMAT delay_ms/);
    expect(await c.send('{"event_name":"later.a","msg":"x","delay_ms":"5"}')).toMatch(/^ERR BAD_FORMAT "delay_ms"/);
  });
});
