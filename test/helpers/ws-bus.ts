// The whole app on a fresh database with WebSocket clients on its /ws, and what the WebSocket API tests
// (test/transports/ws*.test.ts) share: publishing in batches, seq ranges, and the checks that answer a bad
// frame, that the socket still works after it and that no further message arrives.
import { expect } from 'vitest';
import { startTestApp, type TestApp } from './app.js';
import type { TestDb } from './broker.js';
import { sleep, type TestScope } from './scope.js';
import type { ConnectOptions, Frame, MessageFrame, WsClient } from './ws-client.js';

/** The app, and the database it runs on (for SQL checks and restarts). */
export interface Bus extends TestApp {
  readonly port: number;
  /** A WebSocket client on /ws, closed after the test. */
  connect(options?: ConnectOptions): Promise<WsClient>;
}

/**
 * The whole app on `db` (a fresh database unless given), every port 0; `env` overrides settings by their
 * variable names. Stopped after the test by `scope`.
 */
export async function startBus(scope: TestScope, env: Record<string, string> = {}, db?: TestDb): Promise<Bus> {
  const started = await startTestApp(scope, env, db === undefined ? {} : { db });
  return { ...started, port: started.app.ports.http, connect: started.ws };
}

export const seqs = (ms: readonly MessageFrame[]): number[] => ms.map((m) => m.seq);
export const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/**
 * Asserts that no further message for `subscription` arrives within `ms`. A negative can only be observed
 * by waiting; callers make sure everything that should have arrived has arrived first.
 */
export async function expectNoMoreMessages(client: WsClient, subscription: string, ms = 300): Promise<void> {
  await sleep(ms);
  const extra = client.pending((f) => f.type === 'message' && f['subscription'] === subscription);
  expect(extra.map((f) => [f['seq'], f['delivery']]), `unexpected messages for ${subscription}`).toEqual([]);
}

// A frame may be EVENTBUS_MAX_PAYLOAD + 64 KiB long; batches are cut well under the default 1 MiB.
const BATCH_FRAME_BYTES = 512 * 1024;

/** Publishes `n` messages with publish_batch (several frames if they would not fit one); resolves with their seqs. */
export async function publishBatch(client: WsClient, topic: string, n: number, payload = (i: number) => `${topic}#${i}`): Promise<number[]> {
  const seqs: number[] = [];
  let batch: { topic: string; payload: string }[] = [];
  let bytes = 0;
  const send = async (): Promise<void> => {
    const reply = await client.request({ type: 'publish_batch', messages: batch });
    expect(reply.type, JSON.stringify(reply)).toBe('published');
    seqs.push(...(reply['seqs'] as number[]));
    batch = [];
    bytes = 0;
  };
  for (let i = 0; i < n; i++) {
    const m = { topic, payload: payload(i) };
    if (batch.length > 0 && bytes + m.payload.length > BATCH_FRAME_BYTES) await send();
    batch.push(m);
    bytes += m.payload.length + topic.length + 32;
  }
  if (batch.length > 0) await send();
  return seqs;
}

/** The error frame answering `frame`; the id is checked to be echoed. */
export async function expectError(client: WsClient, frame: Record<string, unknown>, code: string): Promise<Frame> {
  const reply = await client.request(frame);
  expect(reply, `answer to ${JSON.stringify(frame).slice(0, 120)}`).toMatchObject({ type: 'error', code });
  expect(typeof reply['message']).toBe('string');
  return reply;
}

/** The same socket still serves a good publish after a bad frame. */
export async function expectStillWorks(client: WsClient): Promise<void> {
  const reply = await client.request({ type: 'publish', data: { topic: 'still.alive', payload: 'yes' } });
  expect(reply).toMatchObject({ type: 'published', seq: expect.any(Number) });
  expect(client.isClosed).toBe(false);
}
