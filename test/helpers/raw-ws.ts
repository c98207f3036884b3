// A WebSocket client for the tests that check what the server writes byte by byte (length forms, what comes
// after a close frame): a bare TCP socket that does the handshake and parses every frame itself.
import { randomBytes } from 'node:crypto';
import net from 'node:net';

export interface RawFrame {
  readonly fin: boolean;
  readonly opcode: number;
  readonly payload: Buffer;
}

/**
 * A WebSocket client over a bare TCP socket that parses every server frame itself (RFC 6455 §5.2), strictly:
 * an unmasked server frame, a correct length encoding, the minimal length form. Keeps the frames in order,
 * so a test can see what came after a close frame.
 */
export interface RawWsClient {
  readonly frames: RawFrame[];
  readonly errors: string[];
  send(text: string): void;
  sendClose(code: number): void;
  texts(): Record<string, unknown>[];
  readonly ended: Promise<void>;
  destroy(): void;
}

/** Opens ws://127.0.0.1:<port><path>; resolves once the server has answered the upgrade with 101. */
export function rawWsConnect(port: number, path = '/ws'): Promise<RawWsClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const key = randomBytes(16).toString('base64');
    let buf = Buffer.alloc(0);
    let upgraded = false;
    const frames: RawFrame[] = [];
    const errors: string[] = [];
    let endedResolve!: () => void;
    const ended = new Promise<void>((r) => (endedResolve = r));
    socket.on('close', () => endedResolve());
    socket.on('error', () => undefined);
    const writeFrame = (opcode: number, payload: Buffer): void => {
      const mask = randomBytes(4);
      const n = payload.length;
      const head = n < 126 ? Buffer.from([0x80 | opcode, 0x80 | n]) : Buffer.from([0x80 | opcode, 0x80 | 126, n >> 8, n & 0xff]);
      const body = Buffer.from(payload);
      for (let i = 0; i < body.length; i++) body[i]! ^= mask[i % 4]!;
      socket.write(Buffer.concat([head, mask, body]));
    };
    const client: RawWsClient = {
      frames,
      errors,
      send: (text) => writeFrame(0x1, Buffer.from(text)),
      sendClose: (code) => {
        const b = Buffer.alloc(2);
        b.writeUInt16BE(code);
        writeFrame(0x8, b);
      },
      texts: () => frames.filter((f) => f.opcode === 0x1).map((f) => JSON.parse(f.payload.toString('utf8')) as Record<string, unknown>),
      ended,
      destroy: () => socket.destroy(),
    };
    const parse = (): void => {
      for (;;) {
        if (buf.length < 2) return;
        const b0 = buf[0]!;
        const b1 = buf[1]!;
        if (b1 & 0x80) errors.push('masked server frame');
        let len = b1 & 0x7f;
        let at = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          if (len < 126) errors.push(`non-minimal 16-bit length ${len}`);
          at = 4;
        } else if (len === 127) {
          if (buf.length < 10) return;
          const hi = buf.readUInt32BE(2);
          if (hi & 0x80000000) errors.push('64-bit length with the top bit set');
          len = hi * 2 ** 32 + buf.readUInt32BE(6);
          if (len < 65536) errors.push(`non-minimal 64-bit length ${len}`);
          at = 10;
        }
        if (buf.length < at + len) return;
        frames.push({ fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, payload: buf.subarray(at, at + len) });
        buf = buf.subarray(at + len);
      }
    };
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        buf = buf.subarray(end + 4);
        if (!head.startsWith('HTTP/1.1 101')) return reject(new Error(`no upgrade: ${head}`));
        upgraded = true;
        resolve(client);
      }
      parse();
    });
    socket.on('connect', () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    socket.once('error', reject);
  });
}
