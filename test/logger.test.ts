// The log's two formats: JSON lines exactly as programs parse them when stderr is not a terminal, and
// human-readable lines (pino-pretty) when it is. The choice is a function of isTTY, called here both ways.
import { describe, expect, test } from 'vitest';
import { readyLine } from '../src/app.js';
import { createLogger, humanLine, logDestination, type LogDestination } from '../src/logger.js';

function collector(): LogDestination & { lines: string[] } {
  const lines: string[] = [];
  return { lines, write: (text) => void lines.push(...text.split('\n').filter((l) => l !== '')) };
}

const ready = readyLine('127.0.0.1', { transport: 49152, registration: 49153, http: 3000 }, 'data/eventbus.db');

describe('not a terminal: JSON lines', () => {
  test('each event is one JSON line with level, time, pid, the message and its fields, as before', async () => {
    const out = collector();
    const logger = createLogger('info', await logDestination({ isTTY: false, colors: false }, out));
    logger.child({ transport: 'http' }).info('listening', { address: '127.0.0.1:3000', websocket: 'ws://127.0.0.1:3000/ws' });
    logger.info(ready.message, ready.fields);
    logger.debug('not at info');
    expect(out.lines).toHaveLength(2);
    const [listening, started] = out.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(listening).toEqual({
      level: 30,
      time: expect.any(Number),
      pid: process.pid,
      transport: 'http',
      address: '127.0.0.1:3000',
      websocket: 'ws://127.0.0.1:3000/ws',
      msg: 'listening',
    });
    expect(started).toMatchObject({ msg: ready.message, ready: { ingress: '127.0.0.1:49152', http: 'http://127.0.0.1:3000', db: 'data/eventbus.db' } });
  });
});

describe('a terminal: lines for people', () => {
  test('time, level, message, then the fields as key=value; the start-up line in words only', async () => {
    const out = collector();
    const logger = createLogger('info', await logDestination({ isTTY: true, colors: false }, out));
    logger.child({ transport: 'transport' }).info('listening', { address: '127.0.0.1:49152' });
    logger.info(ready.message, ready.fields);
    logger.warn('listening beyond this machine without EVENTBUS_TOKEN: anyone can publish', { host: '0.0.0.0' });
    expect(out.lines).toEqual([
      expect.stringMatching(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: listening transport=transport address=127\.0\.0\.1:49152$/),
      expect.stringMatching(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: eventbus ready: publish with telnet 127\.0\.0\.1 49152, .*, database data\/eventbus\.db$/),
      expect.stringMatching(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: listening beyond this machine without EVENTBUS_TOKEN: anyone can publish host=0\.0\.0\.0$/),
    ]);
    expect(out.lines.join('\n')).not.toContain('{');
  });

  test('colors when asked for', async () => {
    const out = collector();
    createLogger('info', await logDestination({ isTTY: true, colors: true }, out)).error('stopping: closing the broker failed');
    expect(out.lines[0]).toContain('\u001b[31mERROR\u001b[39m');
  });
});

describe('humanLine', () => {
  test('quotes a string with spaces, an equals sign or quotes, writes other values as JSON, leaves out what is undefined', () => {
    const log = { msg: 'consumer registered', consumer: 'audit', patterns: ['a.*', 'b'], seq: 7, reason: 'not acked after 3', text: 'a=b', note: undefined, level: 30, time: 1, pid: 2 };
    expect(humanLine(log)).toBe('consumer registered consumer=audit patterns=["a.*","b"] seq=7 reason="not acked after 3" text="a=b"');
  });

  test('a value of several lines, a stack, goes below the line, indented', () => {
    expect(humanLine({ msg: 'unhandled rejection; exiting', error: 'Error: boom\n    at a (x.ts:1:1)', conn: 7 })).toBe(
      'unhandled rejection; exiting conn=7\n    error: Error: boom\n        at a (x.ts:1:1)',
    );
  });
});
