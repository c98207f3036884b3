// LineSplitter: bytes → lines for the telnet front-ends. `\n` and `\r\n`, UTF-8 split anywhere, a byte limit
// enforced without buffering an over-long line, an unterminated last line at end(), and the property that
// where the chunks break never changes the lines (nats.js's byByteTest idea).
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { LineSplitter, type LineEvent } from '../../src/protocol/lines.js';

const BIG_LIMIT = 1 << 20;

/** Every event from feeding `chunks` and then ending the stream. */
function splitAll(chunks: readonly Buffer[], maxLineBytes = BIG_LIMIT, end = true): LineEvent[] {
  const splitter = new LineSplitter(maxLineBytes);
  const events: LineEvent[] = [];
  const emit = (e: LineEvent): void => {
    events.push(e);
  };
  for (const chunk of chunks) splitter.push(chunk, emit);
  if (end) splitter.end(emit);
  return events;
}

/** `bytes` cut at the given offsets (any order, repeats and out-of-range values allowed). */
function cutAt(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    chunks.push(bytes.subarray(from, p));
    from = p;
  }
  return chunks;
}

const byteByByte = (bytes: Buffer): Buffer[] => [...bytes].map((b) => Buffer.from([b]));
const lines = (...texts: string[]): LineEvent[] => texts.map((text) => ({ type: 'line', text }));
const tooLong = (bytes: number): LineEvent => ({ type: 'too_long', bytes });

describe('line endings', () => {
  test('splits on \\n and on \\r\\n, mixed in one stream, without the line ending', () => {
    const events = splitAll([Buffer.from('a:1\nb:2\r\nc:3\n\r\n\n')]);
    expect(events).toEqual(lines('a:1', 'b:2', 'c:3', '', ''));
  });

  test('a \\r that is not just before \\n stays in the line', () => {
    expect(splitAll([Buffer.from('a\rb\n\rc\r\n')])).toEqual(lines('a\rb', '\rc'));
  });

  test('a \\r\\n split between two chunks is still one line ending', () => {
    expect(splitAll([Buffer.from('topic:abc\r'), Buffer.from('\nnext:1\r'), Buffer.from('\n')])).toEqual(lines('topic:abc', 'next:1'));
  });

  test('several lines in one chunk and one line over many chunks come out the same', () => {
    const text = 'orders.created:{"id":1}\nchat.user1:hello there\n';
    expect(splitAll([Buffer.from(text)])).toEqual(splitAll(byteByByte(Buffer.from(text))));
    expect(splitAll([Buffer.from(text)])).toEqual(lines('orders.created:{"id":1}', 'chat.user1:hello there'));
  });

  test('an empty chunk changes nothing', () => {
    expect(splitAll([Buffer.alloc(0), Buffer.from('a'), Buffer.alloc(0), Buffer.from('b\n'), Buffer.alloc(0)])).toEqual(lines('ab'));
  });
});

describe('UTF-8', () => {
  const text = 'chat:héllo wörld — 世界 🎉 ok';

  test('multi-byte characters cut at every possible byte are decoded whole', () => {
    const bytes = Buffer.from(`${text}\n`);
    for (let cut = 0; cut <= bytes.length; cut++) {
      expect(splitAll(cutAt(bytes, [cut])), `cut at byte ${cut}`).toEqual(lines(text));
    }
  });

  test('fed one byte at a time, multi-byte characters are decoded whole', () => {
    expect(splitAll(byteByByte(Buffer.from(`${text}\r\n${text}\n`)))).toEqual(lines(text, text));
  });
});

describe('the length limit (bytes, without the line ending)', () => {
  const LIMIT = 16;
  const atLimit = 'a'.repeat(LIMIT);
  const overLimit = 'a'.repeat(LIMIT + 1);

  test.each([
    ['\\n', '\n'],
    ['\\r\\n', '\r\n'],
  ])('a line of exactly the limit ending in %s is a line, in one chunk or byte by byte', (_name, eol) => {
    const bytes = Buffer.from(`${atLimit}${eol}next${eol}`);
    expect(splitAll([bytes], LIMIT)).toEqual(lines(atLimit, 'next'));
    expect(splitAll(byteByByte(bytes), LIMIT)).toEqual(lines(atLimit, 'next'));
  });

  test.each([
    ['\\n', '\n'],
    ['\\r\\n', '\r\n'],
  ])('a line one byte over the limit ending in %s is too_long, and the next line is intact', (_name, eol) => {
    const bytes = Buffer.from(`${overLimit}${eol}next${eol}`);
    expect(splitAll([bytes], LIMIT)).toEqual([tooLong(LIMIT + 1), ...lines('next')]);
    expect(splitAll(byteByByte(bytes), LIMIT).map((e) => e.type)).toEqual(['too_long', 'line']);
    expect(splitAll(byteByByte(bytes), LIMIT)[1]).toEqual({ type: 'line', text: 'next' });
  });

  test('too_long reports the length of the line without its \\r\\n, however the chunks fall', () => {
    const bytes = Buffer.from(`${overLimit}\r\n`);
    expect(splitAll([bytes], LIMIT)).toEqual([tooLong(LIMIT + 1)]);
    expect(splitAll(byteByByte(bytes), LIMIT)).toEqual([tooLong(LIMIT + 1)]);
    expect(splitAll(cutAt(bytes, [LIMIT + 1]), LIMIT)).toEqual([tooLong(LIMIT + 1)]);
  });

  test('the limit counts bytes, not characters', () => {
    const sixBytes = 'ééé'; // 3 characters, 6 bytes
    expect(splitAll([Buffer.from(`${sixBytes}\n`)], 6)).toEqual(lines(sixBytes));
    expect(splitAll([Buffer.from(`${sixBytes}\n`)], 5)).toEqual([tooLong(6)]);
    expect(splitAll(byteByByte(Buffer.from(`${sixBytes}\n`)), 5)).toEqual([tooLong(6)]);
  });

  test('a line just under the limit whose last byte before \\n is \\r fits', () => {
    // LIMIT bytes plus '\r' is LIMIT+1 bytes buffered until the '\n' shows it was a line ending.
    const bytes = Buffer.from(`${atLimit}\r`);
    expect(splitAll([bytes, Buffer.from('\n')], LIMIT)).toEqual(lines(atLimit));
  });

  test('an over-long line in many small chunks gives one too_long and the lines around it survive', () => {
    const bytes = Buffer.from(`before\n${'x'.repeat(1000)}\nafter\n`);
    expect(splitAll(cutAt(bytes, Array.from({ length: 200 }, (_, i) => i * 7)), LIMIT)).toEqual([
      ...lines('before'),
      tooLong(1000),
      ...lines('after'),
    ]);
  });

  test('10 MB without a newline, fed in 64 KB chunks to a 1 KB limit: one too_long, nothing buffered, then lines', () => {
    const KB = 1024;
    const total = 10 * KB * KB;
    const chunk = Buffer.alloc(64 * KB, 'x'); // reused: the test itself allocates nothing per chunk
    const splitter = new LineSplitter(KB);
    const events: LineEvent[] = [];
    const emit = (e: LineEvent): void => {
      events.push(e);
    };
    splitter.push(Buffer.from('first\n'), emit);
    const before = process.memoryUsage().arrayBuffers;
    let peak = 0;
    for (let sent = 0; sent < total; sent += chunk.length) {
      splitter.push(chunk, emit);
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - before);
    }
    // Buffering the 10 MB would show here as ~10 MB of buffers held; the splitter may keep ~1 KB.
    expect(peak).toBeLessThan(2 * KB * KB);
    splitter.push(Buffer.from('\nsecond\r\nthird\n'), emit);
    splitter.end(emit);
    expect(events).toEqual([...lines('first'), tooLong(total), ...lines('second', 'third')]);
  });
});

describe('end()', () => {
  test('emits an unterminated last line', () => {
    expect(splitAll([Buffer.from('a:1\nb:2')])).toEqual(lines('a:1', 'b:2'));
    expect(splitAll(byteByByte(Buffer.from('a:1\nb:2')))).toEqual(lines('a:1', 'b:2'));
  });

  test('emits nothing more after a terminated last line, or for an empty stream', () => {
    expect(splitAll([Buffer.from('a:1\n')])).toEqual(lines('a:1'));
    expect(splitAll([])).toEqual([]);
  });

  test('an unterminated last line over the limit is too_long', () => {
    expect(splitAll([Buffer.from('ok\n'), Buffer.from('y'.repeat(50))], 10)).toEqual([...lines('ok'), tooLong(50)]);
    expect(splitAll(byteByByte(Buffer.from('y'.repeat(50))), 10)).toEqual([tooLong(50)]);
  });

  test('without end(), an unterminated line is held back', () => {
    expect(splitAll([Buffer.from('a:1\nb:2')], BIG_LIMIT, false)).toEqual(lines('a:1'));
  });
});

describe('chunk boundaries never matter (property)', () => {
  // Any code point (plus the characters that matter here, often), never '\n', never ending in '\r' (that '\r'
  // would be read as part of a '\r\n').
  const lineText = fc
    .string({
      unit: fc.oneof(fc.constantFrom('\r', ':', ' ', '{', 'é', '世', '🎉'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })),
      maxLength: 24,
    })
    .map((s) => s.replace(/\n/g, '').replace(/\r+$/, ''));
  const line = fc.record({ text: lineText, eol: fc.constantFrom('\n', '\r\n') });
  const stream = fc.record({ lines: fc.array(line, { maxLength: 20 }), terminated: fc.boolean() });
  const cuts = fc.oneof(fc.array(fc.nat(), { maxLength: 40 }), fc.constant('every byte' as const));

  const encode = (s: { lines: { text: string; eol: string }[]; terminated: boolean }): Buffer => {
    const parts = s.lines.map((l, i) => (i === s.lines.length - 1 && !s.terminated ? l.text : l.text + l.eol));
    return Buffer.from(parts.join(''));
  };
  /** What the lines should come out as: the unterminated empty last line of an empty stream is no line. */
  const expectedTexts = (s: { lines: { text: string }[]; terminated: boolean }): string[] => {
    const texts = s.lines.map((l) => l.text);
    if (!s.terminated && texts.length > 0 && texts[texts.length - 1] === '') texts.pop();
    return texts;
  };
  const chunked = (bytes: Buffer, c: number[] | 'every byte'): Buffer[] => (c === 'every byte' ? byteByByte(bytes) : cutAt(bytes, c));

  test('line splitting ignores chunk boundaries (\\n and \\r\\n endings, unicode, 1-byte chunks)', () => {
    fc.assert(
      fc.property(stream, cuts, (s, c) => {
        expect(splitAll(chunked(encode(s), c))).toEqual(lines(...expectedTexts(s)));
      }),
      { numRuns: 500 },
    );
  });

  test('with a small limit, every line is a line or too_long by its byte length, however the chunks fall', () => {
    fc.assert(
      fc.property(stream, cuts, fc.integer({ min: 1, max: 24 }), (s, c, limit) => {
        const expected = expectedTexts(s).map((text): LineEvent => {
          const bytes = Buffer.byteLength(text);
          return bytes > limit ? tooLong(bytes) : { type: 'line', text };
        });
        expect(splitAll(chunked(encode(s), c), limit)).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });
});
