// The EventClient interface (EventClient / EventReceiver / EventMessage), one suite run against each of its
// backends: the WebSocket client (WsEventClient against a broker started with startApp on 127.0.0.1, port 0),
// plain HTTP (HttpEventClient, pulling over the same broker's API) and the in-process backend (LocalEventClient
// from the embedded broker). The test bodies are identical; only how a client is made and where the broker lives
// differ. Real broker, real sockets, a temp database per test.
import type { ResultAsync } from 'neverthrow';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { startApp, type App } from '../../../src/app.js';
import { EventMessage, type EventClient, type EventConfig, type EventError, type EventReceiver } from '../../../src/client/events/interface.js';
import { LocalEventClient } from '../../../src/embed/local-event-client.js';
import { WsEventClient } from '../../../src/client/events/ws-event-client.js';
import { HttpEventClient } from '../../../src/client/events/http-event-client.js';
import { silentLogger } from '../../../src/logger.js';
import { tempDir, testAppConfig, type TestDb, type TestDir } from '../../helpers/broker.js';
import { openTestEventBus } from '../../helpers/embedded.js';
import { query } from '../../helpers/scope.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const RECEIVE_MS = 5000;

/** One running broker and how a test makes clients for it. */
interface Harness {
  readonly db: TestDb;
  client(config: EventConfig): Promise<EventClient>;
  /** The broker's head seq (the last stored message). */
  headSeq(): number;
  /** Closes the clients made so far (after each test). */
  closeClients(): Promise<void>;
  stop(): Promise<void>;
}

interface Backend {
  readonly name: string;
  start(dir: TestDir): Promise<Harness>;
}

/** A backend whose clients talk to a broker started with startApp, over its HTTP port. */
function appBackend(name: string, connect: (config: EventConfig, port: number) => Promise<EventClient>): Backend {
  return {
    name,
    start: async (dir) => {
      const started = await startApp(testAppConfig(dir), silentLogger);
      if (started.isErr()) throw new Error(started.error.message);
      const app: App = started.value;
      const clients: EventClient[] = [];
      return {
        db: dir,
        client: async (config) => {
          const client = await connect(config, app.ports.http);
          clients.push(client);
          return client;
        },
        headSeq: () => app.broker.headSeq(),
        closeClients: async () => {
          for (const c of clients.splice(0)) await c.close();
        },
        stop: async () => {
          for (const c of clients.splice(0)) await c.close();
          await app.stop();
        },
      };
    },
  };
}

const connected = async <C,>(made: ResultAsync<C, EventError>): Promise<C> => {
  const result = await made;
  if (result.isErr()) throw new Error(`connect: ${result.error.message}`);
  return result.value;
};

const wsBackend = appBackend('WebSocket (WsEventClient → startApp)', (config, port) =>
  connected(WsEventClient.connect({ ...config, options: { ...config.options, url: `ws://127.0.0.1:${port}/ws` } }, { maxRetries: 3, requestTimeoutMs: 10_000 })),
);

const httpBackend = appBackend('HTTP (HttpEventClient → startApp)', (config, port) =>
  connected(HttpEventClient.connect({ ...config, options: { ...config.options, url: `http://127.0.0.1:${port}` } })),
);

const localBackend: Backend = {
  name: 'in-process (LocalEventClient → the embedded broker)',
  start: async (dir) => {
    const { bus } = await openTestEventBus(dir);
    const clients: EventClient[] = [];
    let n = 0;
    return {
      db: dir,
      // Both ways of making one: bus.client() and the constructor.
      client: (config) => {
        const c = n++ % 2 === 0 ? bus.client(config) : new LocalEventClient(bus.broker, config);
        clients.push(c);
        return Promise.resolve(c);
      },
      headSeq: () => bus.broker.headSeq(),
      closeClients: async () => {
        for (const c of clients.splice(0)) await c.close();
      },
      stop: async () => {
        for (const c of clients.splice(0)) await c.close();
        await bus.close();
      },
    };
  },
};

/** Rows of the messages table, read through a connection of the test's own, as any client of the database would. */
const storedMessages = (db: TestDb, topic: string): { seq: number; messageId: string | null; payload: string }[] =>
  query(db, 'SELECT seq, message_id AS "messageId", payload FROM messages WHERE topic = ? ORDER BY seq', topic);

function text(m: EventMessage): string {
  return m.dataAsString()._unsafeUnwrap();
}

describe.each([wsBackend, httpBackend, localBackend])('EventClient on the $name backend', (backend) => {
  let dir: TestDir;
  let h: Harness;
  const receivers: EventReceiver[] = [];

  // One broker per backend (opening one takes a few hundred ms); every test uses topics and consumer
  // names of its own, made by u().
  let n = 0;
  let prefix = '';
  const u = (name: string): string => `${prefix}${name}`;

  beforeAll(async () => {
    dir = await tempDir();
    h = await backend.start(dir);
  });

  afterAll(async () => {
    await h?.stop();
    await dir?.cleanup();
  });

  beforeEach(() => {
    prefix = `t${++n}_`;
  });

  afterEach(async () => {
    for (const r of receivers.splice(0)) await r.close();
    await h.closeClients();
  });

  async function subscribe(client: EventClient): Promise<EventReceiver> {
    const r = await client.subscribe();
    if (r.isErr()) throw new Error(`subscribe: ${r.error.kind} ${r.error.message}`);
    receivers.push(r.value);
    return r.value;
  }

  /** Receives until `count` messages arrived (each within RECEIVE_MS), failing if one does not come. */
  async function receiveN(r: EventReceiver, count: number): Promise<EventMessage[]> {
    const out: EventMessage[] = [];
    while (out.length < count) {
      const m = (await r.receiveMessage(RECEIVE_MS))._unsafeUnwrap();
      if (m === null) throw new Error(`only ${out.length} of ${count} messages arrived`);
      out.push(m);
    }
    return out;
  }

  test('sendMessage resolves with the given message id, or a fresh one for a message without', async () => {
    const client = await h.client({ topicName: u('ids.t'), options: { consumer: u('ids') } });
    const r = await subscribe(client);

    const given = await client.sendMessage(EventMessage.new('with id').withMessageId('my-id-1'));
    expect(given._unsafeUnwrap()).toBe('my-id-1');
    const made1 = (await client.sendMessage(EventMessage.new('without id')))._unsafeUnwrap();
    const made2 = (await client.sendMessage(EventMessage.new('without id either')))._unsafeUnwrap();
    expect(typeof made1).toBe('string');
    expect(made1.length).toBeGreaterThan(0);
    expect(made2).not.toBe(made1);

    // The ids returned are the ids the messages carry when received, and the ids stored in the log.
    const got = await receiveN(r, 3);
    expect(got.map((m) => [m.messageId, text(m)])).toEqual([
      ['my-id-1', 'with id'],
      [made1, 'without id'],
      [made2, 'without id either'],
    ]);
    expect(storedMessages(h.db, u('ids.t')).map((row) => row.messageId)).toEqual(['my-id-1', made1, made2]);
  });

  test('with a delay or a time: stored at once as schedules, received when due and not before, with the ids sent', async () => {
    const client = await h.client({ topicName: u('later.t'), options: { consumer: u('later') } });
    const r = await subscribe(client);
    const before = Date.now();
    const one = (await client.sendMessage(EventMessage.new('in a moment'), { delayMs: 800 }))._unsafeUnwrap();
    const two = (await client.sendMessages([EventMessage.new('b1'), EventMessage.new('b2')], { deliverAt: new Date(before + 1000) }))._unsafeUnwrap();
    expect(storedMessages(h.db, u('later.t'))).toEqual([]);
    const got = await receiveN(r, 3);
    expect(Date.now()).toBeGreaterThanOrEqual(before + 1000);
    expect(got.map((m) => [m.messageId, text(m)])).toEqual([
      [one, 'in a moment'],
      [two[0], 'b1'],
      [two[1], 'b2'],
    ]);
    expect(storedMessages(h.db, u('later.t')).map((row) => row.messageId)).toEqual([one, ...two]);
    // A bad time is refused and nothing is stored; each front-end refuses it in its own code (§11).
    const bad = await client.sendMessage(EventMessage.new('never'), { delayMs: -1 });
    expect(bad._unsafeUnwrapErr()).toMatchObject({ kind: 'PublishError', code: expect.stringMatching(/^BAD_(ARGS|FRAME)$/) as unknown });
  });

  test('sendMessages stores all of them, in order, and resolves with their ids in that order', async () => {
    const client = await h.client({ topicName: u('batch.t'), options: { consumer: u('batch') } });
    const r = await subscribe(client);
    const messages = [
      EventMessage.new('b0').withMessageId('batch-0'),
      EventMessage.new('b1'),
      EventMessage.new('b2').withMessageId('batch-2'),
      EventMessage.new('b3'),
      EventMessage.new('b4'),
    ];
    const ids = (await client.sendMessages(messages))._unsafeUnwrap();
    expect(ids).toHaveLength(5);
    expect(ids[0]).toBe('batch-0');
    expect(ids[2]).toBe('batch-2');
    expect(new Set(ids).size).toBe(5);

    const rows = storedMessages(h.db, u('batch.t'));
    expect(rows.map((row) => [row.messageId, row.payload])).toEqual(ids.map((id, i) => [id, `b${i}`]));
    const got = await receiveN(r, 5);
    expect(got.map((m) => [m.messageId, text(m)])).toEqual(ids.map((id, i) => [id, `b${i}`]));
  });

  test('sendMessages to an invalid topic: PublishError with code BAD_TOPIC, and nothing stored', async () => {
    const bad = await h.client({ topicName: u('not a valid topic!') });
    const head = h.headSeq();
    const r = await bad.sendMessages([EventMessage.new('x'), EventMessage.new('y')]);
    expect(r.isErr()).toBe(true);
    const e = r._unsafeUnwrapErr();
    expect([e.kind, e.code]).toEqual(['PublishError', 'BAD_TOPIC']);
    expect(e.message.length).toBeGreaterThan(0);
    const one = await bad.sendMessage(EventMessage.new('z'));
    expect([one._unsafeUnwrapErr().kind, one._unsafeUnwrapErr().code]).toEqual(['PublishError', 'BAD_TOPIC']);
    expect(h.headSeq()).toBe(head);
    expect(storedMessages(h.db, u('not a valid topic!'))).toEqual([]);
  });

  test('sendMessages is all or none: one invalid message (an over-long message id) stores none of the batch', async () => {
    const client = await h.client({ topicName: u('atomic.t'), options: { consumer: u('atomic') } });
    const r = await subscribe(client);
    const head = h.headSeq();
    const sent = await client.sendMessages([EventMessage.new('ok-1'), EventMessage.new('bad').withMessageId('x'.repeat(300)), EventMessage.new('ok-2')]);
    expect(sent.isErr()).toBe(true);
    expect(sent._unsafeUnwrapErr().kind).toBe('PublishError');
    // README, error codes: a bad message id is BAD_ARGS, and BAD_FRAME when it comes in a WebSocket frame.
    expect(['BAD_ARGS', 'BAD_FRAME']).toContain(sent._unsafeUnwrapErr().code);
    expect(h.headSeq()).toBe(head);
    expect(storedMessages(h.db, u('atomic.t'))).toEqual([]);
    expect((await r.receiveMessage(300))._unsafeUnwrap()).toBeNull();
  });

  test('sendMessages of no messages resolves with no ids', async () => {
    const client = await h.client({ topicName: u('empty.t') });
    const head = h.headSeq();
    const r = await client.sendMessages([]);
    expect(r.isOk() ? r.value : `${r.error.kind} ${r.error.code}: ${r.error.message}`).toEqual([]);
    expect(h.headSeq()).toBe(head);
  });

  test('data, attributes, message id and ordering key round-trip through subscribe + receiveMessage', async () => {
    const client = await h.client({ topicName: u('rt.t'), projectId: 'proj', options: { consumer: u('rt') } });
    const r = await subscribe(client);
    const sent = EventMessage.new('{"event_type":"user_login","user_id":"123"} é✓ "quoted" \\ back')
      .withAttribute('event_type', 'user_login')
      .withAttribute('user_id', '123')
      .withAttribute('empty', '')
      .withAttribute('unicode ключ', 'значение ✓')
      .withMessageId('rt-1')
      .withOrderingKey('user-123');
    expect((await client.sendMessage(sent))._unsafeUnwrap()).toBe('rt-1');

    const m = (await r.receiveMessage(RECEIVE_MS))._unsafeUnwrap();
    expect(m).not.toBeNull();
    expect(m!.messageId).toBe('rt-1');
    expect(m!.orderingKey).toBe('user-123');
    expect(m!.attributes).toEqual({ event_type: 'user_login', user_id: '123', empty: '', 'unicode ключ': 'значение ✓' });
    expect(Buffer.from(m!.data).equals(Buffer.from(sent.data))).toBe(true);
    expect(text(m!)).toBe('{"event_type":"user_login","user_id":"123"} é✓ "quoted" \\ back');
    // A message without ordering key arrives without one.
    (await client.sendMessage(EventMessage.new('plain')))._unsafeUnwrap();
    const plain = (await r.receiveMessage(RECEIVE_MS))._unsafeUnwrap();
    expect(plain?.orderingKey).toBeUndefined();
    expect(plain?.attributes).toEqual({});
  });

  test('non-UTF-8 binary data arrives byte for byte; dataAsString() is an error for it', async () => {
    const client = await h.client({ topicName: u('bin.t'), options: { consumer: u('bin') } });
    const r = await subscribe(client);
    const every = new Uint8Array(256).map((_, i) => i);
    const bytes = new Uint8Array([0xff, 0xfe, 0x00, 0xc3, 0x28, 0x80, ...every, 0xed, 0xa0, 0x80]);
    expect(new EventMessage(bytes).dataAsString().isErr()).toBe(true);
    const id = (await client.sendMessage(new EventMessage(bytes, { kind: 'blob' })))._unsafeUnwrap();

    const m = (await r.receiveMessage(RECEIVE_MS))._unsafeUnwrap()!;
    expect(m.messageId).toBe(id);
    expect(m.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(m.data)).toEqual(Array.from(bytes));
    expect(m.attributes).toEqual({ kind: 'blob' });
    const s = m.dataAsString();
    expect(s.isErr()).toBe(true);
    expect(s._unsafeUnwrapErr().kind).toBe('RuntimeError');
  });

  test('empty data round-trips as zero bytes', async () => {
    const client = await h.client({ topicName: u('zero.t'), options: { consumer: u('zero') } });
    const r = await subscribe(client);
    const sent = await client.sendMessage(new EventMessage(new Uint8Array(0)));
    expect(sent.isOk() ? 'sent' : `${sent.error.code}: ${sent.error.message}`).toBe('sent');
    const m = (await r.receiveMessage(RECEIVE_MS))._unsafeUnwrap();
    expect(m?.data.length).toBe(0);
    expect(m && text(m)).toBe('');
  });

  test('attributes named like the broker metadata (timestamp, content_type, content_encoding) round-trip as sent', async () => {
    // Attributes are the sender's string map (HashMap<String, String>): common attribute names must survive.
    const client = await h.client({ topicName: u('attr.t'), options: { consumer: u('attr') } });
    const r = await subscribe(client);
    const attributes = { timestamp: '2024-01-01T00:00:00Z', content_type: 'text/plain', content_encoding: 'gzip', other: 'x' };
    (await client.sendMessage(new EventMessage('hello', attributes)))._unsafeUnwrap();
    const m = (await r.receiveMessage(RECEIVE_MS))._unsafeUnwrap()!;
    expect(text(m)).toBe('hello');
    expect(m.attributes).toEqual(attributes);
  });

  test('text data with a sender attribute content_encoding=base64 is not decoded as base64', async () => {
    const client = await h.client({ topicName: u('enc.t'), options: { consumer: u('enc') } });
    const r = await subscribe(client);
    (await client.sendMessage(new EventMessage('hello world', { content_encoding: 'base64' })))._unsafeUnwrap();
    const m = (await r.receiveMessage(RECEIVE_MS))._unsafeUnwrap()!;
    expect(Buffer.from(m.data).toString('latin1')).toBe('hello world');
    expect(m.attributes).toEqual({ content_encoding: 'base64' });
  });

  test('two receiveMessage() calls waiting at once on one receiver both get a message', async () => {
    const client = await h.client({ topicName: u('pair.t') });
    const r = await subscribe(client);
    const a = r.receiveMessage(RECEIVE_MS);
    const b = r.receiveMessage(RECEIVE_MS);
    (await client.sendMessage(EventMessage.new('one')))._unsafeUnwrap();
    (await client.sendMessage(EventMessage.new('two')))._unsafeUnwrap();
    const got = (await Promise.all([a, b])).map((m) => m._unsafeUnwrap()).map((m) => (m === null ? null : text(m)));
    expect(got.sort()).toEqual(['one', 'two']);
  });

  test('receiveMessages(max) returns at most max, at least one, and in the end every message in order', async () => {
    const client = await h.client({ topicName: u('many.t'), options: { consumer: u('many') } });
    const r = await subscribe(client);
    const ids = (await client.sendMessages(Array.from({ length: 7 }, (_, i) => EventMessage.new(`m${i}`))))._unsafeUnwrap();
    // Let all seven reach the receiver, so a call could take more than 3 if it ignored the limit.
    const first = (await r.receiveMessages(3, RECEIVE_MS))._unsafeUnwrap();
    await sleep(200);
    const got = [...first];
    const sizes = [first.length];
    while (got.length < 7) {
      const batch = (await r.receiveMessages(3, RECEIVE_MS))._unsafeUnwrap();
      if (batch.length === 0) break;
      sizes.push(batch.length);
      got.push(...batch);
    }
    for (const s of sizes) {
      expect(s).toBeGreaterThanOrEqual(1);
      expect(s).toBeLessThanOrEqual(3);
    }
    expect(sizes[1]).toBe(3); // all were there by then
    expect(got.map((m) => m.messageId)).toEqual(ids);
    expect(got.map(text)).toEqual(ids.map((_, i) => `m${i}`));
    // Nothing more: waits its timeout and returns none.
    expect((await r.receiveMessages(3, 200))._unsafeUnwrap()).toEqual([]);
  });

  test('receiveMessages(0) returns no message, and takes none', async () => {
    const client = await h.client({ topicName: u('zero-limit.t'), options: { consumer: u('zero-limit') } });
    const r = await subscribe(client);
    const id = (await client.sendMessage(EventMessage.new('kept')))._unsafeUnwrap();
    await sleep(200); // it has reached the receiver
    expect((await r.receiveMessages(0, 200))._unsafeUnwrap()).toEqual([]);
    const m = (await r.receiveMessage(RECEIVE_MS))._unsafeUnwrap();
    expect(m?.messageId).toBe(id);
  });

  test('receiveMessage(timeoutMs) resolves null when nothing arrives, after about timeoutMs', async () => {
    const client = await h.client({ topicName: u('quiet.t'), options: { consumer: u('quiet') } });
    const r = await subscribe(client);
    const t0 = Date.now();
    const m = await r.receiveMessage(300);
    const elapsed = Date.now() - t0;
    expect(m._unsafeUnwrap()).toBeNull();
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(3000);
    // Another topic's message does not wake it.
    const other = await h.client({ topicName: u('loud.t') });
    (await other.sendMessage(EventMessage.new('not for quiet')))._unsafeUnwrap();
    expect((await r.receiveMessage(300))._unsafeUnwrap()).toBeNull();
    // And a message that does come is returned before the timeout.
    setTimeout(() => void client.sendMessage(EventMessage.new('late')).orTee((e) => expect.fail(JSON.stringify(e))), 100);
    const t1 = Date.now();
    const late = (await r.receiveMessage(10_000))._unsafeUnwrap();
    expect(late && text(late)).toBe('late');
    expect(Date.now() - t1).toBeLessThan(5000);
  });

  test('acknowledge / acknowledgeMessages: a new receiver of the same consumer gets only the unacked messages', async () => {
    const config: EventConfig = { topicName: u('ack.t'), options: { consumer: u('acker') } };
    const client = await h.client(config);
    const r1 = await subscribe(client);
    const ids = (await client.sendMessages(['a', 'b', 'c', 'd', 'e'].map((s) => EventMessage.new(s))))._unsafeUnwrap();
    const got = await receiveN(r1, 5);
    expect(got.map(text)).toEqual(['a', 'b', 'c', 'd', 'e']);

    expect((await r1.acknowledge(ids[0]!)).isOk()).toBe(true);
    expect((await r1.acknowledgeMessages([ids[1]!, ids[3]!])).isOk()).toBe(true);
    // c and e stay unacked.
    await sleep(200); // let the acks reach the broker before the receiver goes
    await r1.close();

    const client2 = await h.client(config);
    const r2 = await subscribe(client2);
    const again = await receiveN(r2, 2);
    expect(again.map(text).sort()).toEqual(['c', 'e']);
    expect(again.map((m) => m.messageId).sort()).toEqual([ids[2], ids[4]].sort());
    expect((await r2.acknowledgeMessages(again.map((m) => m.messageId!))).isOk()).toBe(true);
    expect((await r2.receiveMessage(500))._unsafeUnwrap()).toBeNull();
    await sleep(200);
    await r2.close();

    // All acked now: a third receiver gets nothing old, only what is new.
    const r3 = await subscribe(await h.client(config));
    (await client.sendMessage(EventMessage.new('f')))._unsafeUnwrap();
    const next = (await r3.receiveMessage(RECEIVE_MS))._unsafeUnwrap();
    expect(next && text(next)).toBe('f');
    expect((await r3.receiveMessage(300))._unsafeUnwrap()).toBeNull();
  });

  test('nack: the message is delivered again', async () => {
    const client = await h.client({ topicName: u('nack.t'), options: { consumer: u('nacker') } });
    const r = await subscribe(client);
    const id = (await client.sendMessage(new EventMessage('again', { k: 'v' }).withOrderingKey('ok')))._unsafeUnwrap();
    const first = (await r.receiveMessage(RECEIVE_MS))._unsafeUnwrap()!;
    expect(first.messageId).toBe(id);
    expect((await r.nack(id)).isOk()).toBe(true);
    const second = (await r.receiveMessage(RECEIVE_MS))._unsafeUnwrap();
    expect(second?.messageId).toBe(id);
    expect(second && text(second)).toBe('again');
    expect(second?.attributes).toEqual({ k: 'v' });
    expect(second?.orderingKey).toBe('ok');
    // Redelivered, it can be acked; then it does not come back.
    expect((await r.acknowledge(id)).isOk()).toBe(true);
    expect((await r.receiveMessage(500))._unsafeUnwrap()).toBeNull();
  });

  test('nack with a delay: not redelivered before the delay, redelivered after it', async () => {
    const client = await h.client({ topicName: u('delay.t'), options: { consumer: u('delayer') } });
    const r = await subscribe(client);
    const id = (await client.sendMessage(EventMessage.new('later')))._unsafeUnwrap();
    await receiveN(r, 1);
    const t0 = Date.now();
    expect((await r.nack(id, 700)).isOk()).toBe(true);
    const m = (await r.receiveMessage(RECEIVE_MS))._unsafeUnwrap();
    expect(m?.messageId).toBe(id);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(600);
  });

  test('nackMessages: every nacked message is delivered again, the acked one is not', async () => {
    const client = await h.client({ topicName: u('nacks.t'), options: { consumer: u('nackers') } });
    const r = await subscribe(client);
    const ids = (await client.sendMessages(['x', 'y', 'z'].map((s) => EventMessage.new(s))))._unsafeUnwrap();
    await receiveN(r, 3);
    expect((await r.acknowledge(ids[1]!)).isOk()).toBe(true);
    expect((await r.nackMessages([ids[0]!, ids[2]!])).isOk()).toBe(true);
    const again = await receiveN(r, 2);
    expect(again.map(text).sort()).toEqual(['x', 'z']);
    expect((await r.acknowledgeMessages(again.map((m) => m.messageId!))).isOk()).toBe(true);
    expect((await r.receiveMessage(500))._unsafeUnwrap()).toBeNull();
  });

  test('settling an unknown, or an already settled, message id is an AcknowledgeError; a bad id in a list settles none', async () => {
    const client = await h.client({ topicName: u('unknown.t'), options: { consumer: u('unknown') } });
    const r = await subscribe(client);
    const expectAckError = (e: EventError): void => {
      expect(e.kind).toBe('AcknowledgeError');
      expect(e.message).toContain('no-such-id');
    };
    expectAckError((await r.acknowledge('no-such-id'))._unsafeUnwrapErr());
    expectAckError((await r.nack('no-such-id'))._unsafeUnwrapErr());

    const ids = (await client.sendMessages([EventMessage.new('p'), EventMessage.new('q')]))._unsafeUnwrap();
    await receiveN(r, 2);
    // One bad id: the whole call fails and neither good one is settled.
    expectAckError((await r.acknowledgeMessages([ids[0]!, 'no-such-id']))._unsafeUnwrapErr());
    expectAckError((await r.nackMessages([ids[1]!, 'no-such-id']))._unsafeUnwrapErr());
    expect((await r.receiveMessage(300))._unsafeUnwrap()).toBeNull(); // q was not nacked
    expect((await r.acknowledgeMessages(ids)).isOk()).toBe(true);
    // Settled once: a second ack is an error.
    expect((await r.acknowledge(ids[0]!))._unsafeUnwrapErr().kind).toBe('AcknowledgeError');
    expect((await r.nack(ids[1]!))._unsafeUnwrapErr().kind).toBe('AcknowledgeError');
    expect((await r.receiveMessage(300))._unsafeUnwrap()).toBeNull();
  });

  test('an id listed twice in acknowledgeMessages settles that message once', async () => {
    const client = await h.client({ topicName: u('twice.t'), options: { consumer: u('twice') } });
    const r = await subscribe(client);
    const ids = (await client.sendMessages([EventMessage.new('a'), EventMessage.new('b')]))._unsafeUnwrap();
    await receiveN(r, 2);
    expect((await r.acknowledgeMessages([ids[0]!, ids[0]!, ids[1]!])).isOk()).toBe(true);
    expect((await r.acknowledge(ids[0]!))._unsafeUnwrapErr().kind).toBe('AcknowledgeError');
    expect((await r.receiveMessage(300))._unsafeUnwrap()).toBeNull();
  });

  test('a pattern topicName (orders.*) receives orders.x and orders.y, not orders.x.y nor other topics', async () => {
    const sub = await h.client({ topicName: u('orders.*'), options: { consumer: u('orders-watch') } });
    expect(sub.topicName()).toBe(u('orders.*'));
    const r = await subscribe(sub);
    expect(r.topicName()).toBe(u('orders.*'));
    // sendMessage sends to the topicName itself, and a pattern is not a topic.
    const onPattern = await sub.sendMessage(EventMessage.new('to a pattern'));
    expect([onPattern._unsafeUnwrapErr().kind, onPattern._unsafeUnwrapErr().code]).toEqual(['PublishError', 'BAD_TOPIC']);

    const x = await h.client({ topicName: u('orders.x') });
    const y = await h.client({ topicName: u('orders.y') });
    const deep = await h.client({ topicName: u('orders.x.y') });
    const other = await h.client({ topicName: u('invoices.x') });
    (await x.sendMessage(EventMessage.new('order x-1')))._unsafeUnwrap();
    (await deep.sendMessage(EventMessage.new('deep')))._unsafeUnwrap();
    (await other.sendMessage(EventMessage.new('invoice')))._unsafeUnwrap();
    (await y.sendMessages([EventMessage.new('order y-1'), EventMessage.new('order y-2')]))._unsafeUnwrap();
    (await x.sendMessage(EventMessage.new('order x-2')))._unsafeUnwrap();

    const got = await receiveN(r, 4);
    expect(got.map(text)).toEqual(['order x-1', 'order y-1', 'order y-2', 'order x-2']);
    expect((await r.receiveMessage(400))._unsafeUnwrap()).toBeNull();

    // A multi-level wildcard takes the deeper one too (from the start of the log).
    const all = await subscribe(await h.client({ topicName: u('orders.#'), options: { consumer: u('orders-all'), from_seq: '0' } }));
    const everything = await receiveN(all, 5);
    expect(everything.map(text)).toEqual(['order x-1', 'deep', 'order y-1', 'order y-2', 'order x-2']);
  });

  test('isConnected, topicName and projectId', async () => {
    const withProject = await h.client({ topicName: u('meta.t'), projectId: 'my-project-id' });
    expect(withProject.isConnected()).toBe(true);
    expect(withProject.topicName()).toBe(u('meta.t'));
    expect(withProject.projectId()).toBe('my-project-id');
    const without = await h.client({ topicName: u('meta.u') });
    expect(without.projectId()).toBe('');
    const r = await subscribe(withProject);
    expect(r.isConnected()).toBe(true);
    expect(r.topicName()).toBe(u('meta.t'));
  });

  test('a closed receiver: receiveMessage resolves null at once, and it is not connected any more', async () => {
    const client = await h.client({ topicName: u('closing.t'), options: { consumer: u('closing') } });
    const r = await subscribe(client);
    await r.close();
    const t0 = Date.now();
    expect((await r.receiveMessage(5000))._unsafeUnwrap()).toBeNull();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(client.isConnected()).toBe(true); // the client is still usable
    expect((await client.sendMessage(EventMessage.new('still'))).isOk()).toBe(true);
    expect(r.isConnected()).toBe(false);
  });

  test('a closed client is not connected and can no longer send', async () => {
    const client = await h.client({ topicName: u('gone.t') });
    await client.close();
    expect(client.isConnected()).toBe(false);
    const head = h.headSeq();
    const r = await client.sendMessage(EventMessage.new('after close'));
    expect(r.isErr()).toBe(true);
    expect(h.headSeq()).toBe(head);
  });
});
