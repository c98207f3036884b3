// A WebSocket session the server closes (bus.close(), attached.close(), app.stop()): what was handed to the
// session before the close reaches the client ahead of the close frame, and nothing is written after the
// close frame (RFC 6455 §5.5.1), also while publishes go on or while a reply is in flight. Read with a strict
// raw client, so the order of the frames on the wire is what is checked.
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { openTestEventBus, type TestEventBus } from '../helpers/embedded.js';
import { closeServer, portOf, trackSockets } from '../helpers/http-server.js';
import { rawWsConnect, type RawWsClient } from '../helpers/raw-ws.js';
import { sleep, testScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';
import { startBus } from '../helpers/ws-bus.js';
import { wsConnect } from '../helpers/ws-client.js';

const scope = testScope();

/** An application's http.Server with the bus attached at /ws, both closed after the test. */
async function embedded(): Promise<{ bus: TestEventBus['bus']; port: number; attached: ReturnType<TestEventBus['bus']['attach']> }> {
  const { bus } = await openTestEventBus(await scope.dir());
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  const sockets = trackSockets(server);
  const attached = bus.attach(server, { path: '/ws' });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  scope.defer(async () => {
    await bus.close();
    await closeServer(server, sockets);
  });
  return { bus, port: portOf(server), attached };
}

/** A raw client on /ws, destroyed after the test. */
async function rawClient(port: number): Promise<RawWsClient> {
  const raw = await rawWsConnect(port);
  scope.defer(() => raw.destroy());
  return raw;
}

const hasCloseFrame = (raw: RawWsClient): boolean => raw.frames.some((f) => f.opcode === 0x8);

describe('server-initiated close', () => {
  it('a delivery queued in the same tick as a graceful close reaches the client before the close frame (ws client)', async () => {
    const { bus, port } = await embedded();
    const c = await wsConnect(port);
    scope.defer(() => c.close());
    const id = await c.subscribe({ pattern: 'bye.*' });
    // Live once a first message has come through (a fixed wait was too short on PostgreSQL under load).
    (await bus.broker.publish({ topic: 'bye.soon', payload: 'first' }))._unsafeUnwrap();
    await c.next((f) => f.type === 'message' && f['payload'] === 'first');
    // The embedder's natural shutdown: publish, then close the bus. The delivery frame is queued in the
    // session's FrameWriter (written on the next tick); close() writes the close frame at once, ahead of it.
    (await bus.broker.publish({ topic: 'bye.now', payload: 'last words' }))._unsafeUnwrap();
    const closing = bus.close();
    const closed = await c.closed();
    await closing;
    expect(closed.code).toBe(1001);
    // The message was committed and handed to this session before the close: the client must have it.
    expect(c.takeAll((f) => f.type === 'message' && f['subscription'] === id).map((f) => f['payload'])).toEqual(['last words']);
  });

  it('no data frame is written after the close frame (RFC 6455 §5.5.1), raw socket', async () => {
    const { bus, port } = await embedded();
    const raw = await rawClient(port);
    raw.send(JSON.stringify({ type: 'subscribe', id: 's', pattern: 'bye.*' }));
    await until('subscribed', () => raw.texts().some((f) => f['type'] === 'subscribed'));
    await sleep(20);
    (await bus.broker.publish({ topic: 'bye.now', payload: 'last words' }))._unsafeUnwrap();
    // The bus, not the attached server alone: on PostgreSQL a commit can reach the subscriptions after its
    // publisher's answer, and only the bus's close waits for that before it closes the sessions.
    const closing = bus.close();
    await until('close frame', () => hasCloseFrame(raw));
    await sleep(50);
    raw.sendClose(1001);
    await closing;
    const opcodes = raw.frames.map((f) => f.opcode);
    const closeAt = opcodes.indexOf(0x8);
    expect(raw.errors).toEqual([]);
    expect(opcodes.slice(closeAt + 1)).toEqual([]); // nothing after the close frame
    expect(opcodes.slice(0, closeAt).filter((o) => o === 0x1).length).toBe(2); // subscribed + message, before it
  });

  it('app.stop() with publishes going on: the session stops delivering once it has sent its close frame', async () => {
    const { app, port } = await startBus(scope);
    const raw = await rawClient(port);
    raw.send(JSON.stringify({ type: 'subscribe', id: 's', pattern: 'flow.*' }));
    await until('subscribed', () => raw.texts().some((f) => f['type'] === 'subscribed'));
    await sleep(20);
    let publishing = true;
    const publisher = (async () => {
      while (publishing) if ((await app.broker.publish({ topic: 'flow.x', payload: 'x' })).isErr()) break;
    })();
    await sleep(30);
    const stopping = app.stop();
    await until('close frame', () => hasCloseFrame(raw));
    await sleep(100); // a client a little slow to answer the close (a round trip on a real network)
    raw.sendClose(1001);
    await stopping;
    publishing = false;
    await publisher;
    const opcodes = raw.frames.map((f) => f.opcode);
    const closeAt = opcodes.indexOf(0x8);
    // Every message frame after the close frame is thrown away by a conforming client; for an ephemeral
    // subscription (acked on send) each one is a message lost.
    expect(opcodes.slice(closeAt + 1).filter((o) => o === 0x1).length).toBe(0);
  });

  it('a reply to a frame the client sent before it saw the close is not written after the close frame', async () => {
    const { port, attached } = await embedded();
    const raw = await rawClient(port);
    raw.send(JSON.stringify({ type: 'ping', id: 'hello' }));
    await until('pong', () => raw.texts().some((f) => f['type'] === 'pong'));
    const closing = attached.close();
    // In flight when the broker closed: the client had not seen the close yet.
    raw.send(JSON.stringify({ type: 'publish', id: 'late', data: { topic: 'late.t', payload: 'x' } }));
    await until('close frame', () => hasCloseFrame(raw));
    await sleep(100);
    raw.sendClose(1001);
    await closing;
    const opcodes = raw.frames.map((f) => f.opcode);
    expect(opcodes.slice(opcodes.indexOf(0x8) + 1)).toEqual([]);
  });
});
