// Bytes → lines for both telnet front-ends: `\n` or `\r\n`, UTF-8, and a length limit enforced without
// ever buffering more than the limit (the rest of an over-long line is skipped as it arrives). No I/O.

export type LineEvent =
  | { readonly type: 'line'; readonly text: string }
  /** A line longer than the limit was skipped; it still gets its one reply, in order. */
  | { readonly type: 'too_long'; readonly bytes: number };

const LF = 0x0a;
const CR = 0x0d;

export class LineSplitter {
  readonly #maxLineBytes: number;
  /** The unterminated start of the next line, while it is within the limit. */
  #partial: Buffer[] = [];
  #partialBytes = 0;
  /** Bytes of an over-long line skipped so far (-1 when not skipping). */
  #skipped = -1;
  /** The skipped bytes so far end in '\r', which is not counted if the '\n' comes next. */
  #skippedEndsInCr = false;

  /** `maxLineBytes` counts the line without its `\n` or `\r\n`. */
  constructor(maxLineBytes: number) {
    this.#maxLineBytes = maxLineBytes;
  }

  /** Splits a chunk; `emit` is called once per complete line, in order. */
  push(chunk: Buffer, emit: (event: LineEvent) => void): void {
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(LF, start);
      if (newline < 0) {
        this.#keep(chunk, start, chunk.length);
        return;
      }
      if (this.#partialBytes === 0 && this.#skipped < 0) {
        emit(this.#event(chunk, start, newline));
      } else {
        this.#keep(chunk, start, newline);
        emit(this.#takePartial());
      }
      start = newline + 1;
    }
  }

  /** Part of a line has come and not its end. */
  get inLine(): boolean {
    return this.#partialBytes > 0 || this.#skipped >= 0;
  }

  /** The connection ended: an unterminated last line still counts as a line. */
  end(emit: (event: LineEvent) => void): void {
    if (this.#partialBytes > 0 || this.#skipped >= 0) emit(this.#takePartial());
  }

  #takePartial(): LineEvent {
    if (this.#skipped >= 0) {
      const bytes = this.#skippedEndsInCr ? this.#skipped - 1 : this.#skipped;
      this.#skipped = -1;
      this.#skippedEndsInCr = false;
      return { type: 'too_long', bytes };
    }
    const line = this.#partial.length === 1 ? this.#partial[0]! : Buffer.concat(this.#partial, this.#partialBytes);
    this.#partial = [];
    this.#partialBytes = 0;
    return this.#event(line, 0, line.length);
  }

  /** The line from `from` to `to` (the '\n', exclusive), without a trailing '\r'. */
  #event(buffer: Buffer, from: number, to: number): LineEvent {
    const end = to > from && buffer[to - 1] === CR ? to - 1 : to;
    if (end - from > this.#maxLineBytes) return { type: 'too_long', bytes: end - from };
    return { type: 'line', text: buffer.toString('utf8', from, end) };
  }

  #keep(chunk: Buffer, from: number, to: number): void {
    const length = to - from;
    if (this.#skipped >= 0) {
      this.#skipped += length;
      if (length > 0) this.#skippedEndsInCr = chunk[to - 1] === CR;
      return;
    }
    // One byte over the limit may still be the '\r' of a '\r\n'; beyond that the line is too long for sure.
    if (this.#partialBytes + length > this.#maxLineBytes + 1) {
      this.#skipped = this.#partialBytes + length;
      this.#skippedEndsInCr = length > 0 ? chunk[to - 1] === CR : (this.#partial.at(-1)?.at(-1) ?? 0) === CR;
      this.#partial = [];
      this.#partialBytes = 0;
      return;
    }
    // A copy: the socket may reuse the chunk's memory.
    this.#partial.push(Buffer.from(chunk.subarray(from, to)));
    this.#partialBytes += length;
  }
}
