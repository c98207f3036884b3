// Server-to-client text frames of one event-loop tick, written as one buffer with one socket write. ws's
// send() makes a header buffer, a data buffer and a write per frame, which at tens of thousands of replies
// and deliveries a second is a large share of the main thread. Only unmasked, uncompressed text frames
// (what a server sends with permessage-deflate off), so ws's own sender has nothing queued that these
// could overtake: its control frames (pong, close) are written straight to the socket too.
import type { Duplex } from 'node:stream';

const OPCODE_TEXT = 0x81; // FIN + text

export class FrameWriter {
  readonly #socket: Duplex;
  #frames: string[] = [];
  #pendingLength = 0;
  #onWritten: (() => void) | undefined;
  #scheduled = false;

  constructor(socket: Duplex) {
    this.#socket = socket;
  }

  /** Unsent output: queued frames (their UTF-16 length, close enough to bytes) plus the socket's buffer. */
  get pending(): number {
    return this.#pendingLength + this.#socket.writableLength;
  }

  /** Queues one text frame; `onWritten` is called once this tick's write has reached the OS. */
  push(text: string, onWritten?: () => void): void {
    this.#frames.push(text);
    this.#pendingLength += text.length;
    if (onWritten !== undefined) this.#onWritten = onWritten;
    if (!this.#scheduled) {
      this.#scheduled = true;
      process.nextTick(() => this.#flush());
    }
  }

  /** Writes what is queued now (before a close frame, which must be the last thing on the wire). */
  flush(): void {
    this.#flush();
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#frames.length === 0) return;
    const frames = this.#frames;
    const onWritten = this.#onWritten;
    this.#frames = [];
    this.#pendingLength = 0;
    this.#onWritten = undefined;
    if (this.#socket.destroyed || !this.#socket.writable) return;
    const lengths = new Array<number>(frames.length);
    let total = 0;
    for (let i = 0; i < frames.length; i++) {
      const n = Buffer.byteLength(frames[i]!);
      lengths[i] = n;
      total += n + (n < 126 ? 2 : n < 65536 ? 4 : 10);
    }
    const out = Buffer.allocUnsafe(total);
    let at = 0;
    for (let i = 0; i < frames.length; i++) {
      const n = lengths[i]!;
      out[at++] = OPCODE_TEXT;
      if (n < 126) {
        out[at++] = n;
      } else if (n < 65536) {
        out[at++] = 126;
        out.writeUInt16BE(n, at);
        at += 2;
      } else {
        out[at++] = 127;
        out.writeUInt32BE(Math.floor(n / 2 ** 32), at);
        out.writeUInt32BE(n >>> 0, at + 4);
        at += 8;
      }
      at += out.write(frames[i]!, at, 'utf8');
    }
    this.#socket.write(out, onWritten === undefined ? undefined : () => onWritten());
  }
}
