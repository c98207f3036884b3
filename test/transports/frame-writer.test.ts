// FrameWriter, the WebSocket session's text-frame writer: every length form (7-bit, 16-bit, 64-bit) at its
// boundaries, multi-byte UTF-8 counted in bytes, many frames written in one tick, each read back by the ws
// package and by a strict raw parser; and large payloads delivered intact through a broker session.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { FrameWriter } from '../../src/transports/frame-writer.js';
import { rawWsConnect } from '../helpers/raw-ws.js';
import { testScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';
import { startBus } from '../helpers/ws-bus.js';

const scope = testScope();

/** A bare server whose upgraded sockets are handed to a FrameWriter. */
async function frameServer(onSocket: (ws: WebSocket, socket: Duplex) => void): Promise<number> {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const server = http.createServer();
  server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => onSocket(ws, socket)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  scope.defer(async () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

describe('FrameWriter framing', () => {
  const texts = [
    '',
    'a',
    'x'.repeat(125),
    'x'.repeat(126),
    'x'.repeat(127),
    'é'.repeat(62) + 'x', // 125 bytes
    'é'.repeat(63), // 63 UTF-16 units, 126 bytes: the length form follows the bytes
    '€'.repeat(42), // 126 bytes
    'x'.repeat(65_535),
    'x'.repeat(65_536),
    'é'.repeat(32_768), // 32,768 units, 65,536 bytes
    '😀'.repeat(16_384), // 32,768 units, 65,536 bytes
    'x'.repeat(65_537),
    '€😀é'.repeat(40_000),
  ];

  it('every length form (7-bit, 16-bit, 64-bit) and multi-byte UTF-8, many frames in one tick, parse in ws and strictly', async () => {
    const port = await frameServer((_ws, socket) => {
      const out = new FrameWriter(socket);
      for (const t of texts) out.push(t);
    });
    const received: string[] = [];
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
    let error: Error | undefined;
    ws.on('error', (e) => (error = e));
    ws.on('message', (data, isBinary) => {
      expect(isBinary).toBe(false);
      received.push((data as Buffer).toString());
    });
    await until('every frame', () => received.length === texts.length || error !== undefined);
    ws.terminate();
    expect(error).toBeUndefined();
    expect(received.map((t) => t.length)).toEqual(texts.map((t) => t.length));
    expect(received).toEqual(texts);

    const raw = await rawWsConnect(port, '/');
    await until('raw frames', () => raw.frames.length === texts.length);
    raw.destroy();
    expect(raw.errors).toEqual([]);
    expect(raw.frames.every((f) => f.fin && f.opcode === 0x1)).toBe(true);
    expect(raw.frames.map((f) => f.payload.toString('utf8'))).toEqual(texts);
  });

  it('broker deliveries of large and multi-byte payloads arrive intact through the session', async () => {
    const bus = await startBus(scope);
    const sub = await bus.connect();
    const pub = await bus.connect();
    const id = await sub.subscribe({ pattern: 'big.*' });
    const payloads = ['é'.repeat(70_000), 'x'.repeat(65_400), '😀'.repeat(30), 'y'.repeat(100)];
    for (const [i, p] of payloads.entries()) pub.send({ type: 'publish', id: `p${i}`, data: { topic: `big.t${i}`, payload: p } });
    const got = await sub.messages(id, payloads.length);
    expect(got.map((m) => m.payload)).toEqual(payloads);
  });
});
