// parseRegistrationLine: the registration port's commands (PROTOCOL.md §4) → RegistrationCommand, with
// keywords in any case, arguments kept verbatim, patterns checked and normalised, and BAD_ARGS (with the
// usage), BAD_PATTERN, BAD_ADDRESS or UNKNOWN_COMMAND for a line that is not a command. formatConsumerLine
// writes one LIST line.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  formatConsumerLine,
  parseRegistrationLine,
  type RegistrationCommand,
} from '../../src/protocol/registration.js';

const parsed = (line: string): RegistrationCommand => parseRegistrationLine(line)._unsafeUnwrap();
const refused = (line: string) => parseRegistrationLine(line)._unsafeUnwrapErr();

const KEYWORDS = ['REGISTER', 'SUBSCRIBE', 'UNSUBSCRIBE', 'UNREGISTER', 'REPLAY', 'PAUSE', 'RESUME', 'LIST', 'HELP', 'QUIT'] as const;

/** The keyword with each letter's case flipped by the bits of `mask`. */
const mixCase = (word: string, mask: number): string =>
  Array.from(word).map((c, i) => ((mask >> i) & 1 ? c.toLowerCase() : c.toUpperCase())).join('');

describe('REGISTER', () => {
  test('the telnet walkthrough: id, address and patterns', () => {
    expect(parsed('REGISTER consumer1 tcp://127.0.0.1:9000 event1 event2')).toEqual({
      type: 'register',
      id: 'consumer1',
      address: { protocol: 'tcp', host: '127.0.0.1', port: 9000, path: '/', url: 'tcp://127.0.0.1:9000' },
      patterns: ['event1', 'event2'],
    });
  });

  test('patterns are optional', () => {
    expect(parsed('REGISTER consumer3 http://hooks.internal:8080/in')).toMatchObject({
      type: 'register',
      id: 'consumer3',
      address: { url: 'http://hooks.internal:8080/in' },
      patterns: [],
    });
  });

  test('wildcard patterns are accepted wherever an event name is', () => {
    expect(parsed('REGISTER c ws://h:8080/ws user.* orders.# *.created')).toMatchObject({
      patterns: ['user.*', 'orders.#', '*.created'],
    });
  });

  test('> is stored as #, and a pattern given twice (in either spelling) is kept once, in first-seen order', () => {
    expect(parsed('REGISTER c tcp://h:1 b orders.> a orders.# b >')).toMatchObject({ patterns: ['b', 'orders.#', 'a', '#'] });
  });

  test('the id is kept verbatim, case included', () => {
    expect(parsed('REGISTER Consumer_One.EU tcp://h:1')).toMatchObject({ id: 'Consumer_One.EU' });
    expect(parsed('register REGISTER tcp://h:1')).toMatchObject({ id: 'REGISTER' });
  });

  test('pattern case is kept', () => {
    expect(parsed('REGISTER c tcp://h:1 Orders.Created')).toMatchObject({ patterns: ['Orders.Created'] });
  });

  test.each(['REGISTER', 'REGISTER consumer1', 'register consumer1'])('missing arguments → BAD_ARGS with the usage: %j', (line) => {
    const error = refused(line);
    expect(error.code).toBe('BAD_ARGS');
    expect(error.message).toContain('usage: REGISTER <id> <proto>://<host>:<port>[/path] [pattern ...]');
  });

  test('a bad address → BAD_ADDRESS, with the address in the reason', () => {
    expect(refused('REGISTER c ftp://h:21 a')).toMatchObject({ code: 'BAD_ADDRESS', message: expect.stringContaining('ftp://h:21') });
    expect(refused('REGISTER c 127.0.0.1:9000 a').code).toBe('BAD_ADDRESS');
    expect(refused('REGISTER c tcp://h:9000/x a').code).toBe('BAD_ADDRESS');
  });

  test('the address is checked before the patterns', () => {
    expect(refused('REGISTER c ftp://h:21 bad..pattern').code).toBe('BAD_ADDRESS');
  });

  test.each([
    ['an empty segment', 'a..b'],
    ['# not last', 'a.#.b'],
    ['a partial wildcard', 'user*'],
    ['an invalid character', 'a/b'],
  ])('a bad pattern (%s) → BAD_PATTERN naming it', (_why, pattern) => {
    const error = refused(`REGISTER c tcp://h:1 good ${pattern}`);
    expect(error.code).toBe('BAD_PATTERN');
    expect(error.message).toContain(pattern);
  });
});

describe('SUBSCRIBE and UNSUBSCRIBE', () => {
  test('the telnet walkthrough: SUBSCRIBE consumer1 event3', () => {
    expect(parsed('SUBSCRIBE consumer1 event3')).toEqual({ type: 'subscribe', id: 'consumer1', patterns: ['event3'] });
  });

  test('several patterns, normalised and deduplicated', () => {
    expect(parsed('SUBSCRIBE c a b.> a b.# c.*')).toEqual({ type: 'subscribe', id: 'c', patterns: ['a', 'b.#', 'c.*'] });
    expect(parsed('UNSUBSCRIBE c x.> x.# y')).toEqual({ type: 'unsubscribe', id: 'c', patterns: ['x.#', 'y'] });
  });

  test('the id is kept verbatim', () => {
    expect(parsed('unsubscribe MyConsumer a')).toMatchObject({ id: 'MyConsumer' });
  });

  test.each([
    ['SUBSCRIBE', 'SUBSCRIBE'],
    ['SUBSCRIBE c', 'SUBSCRIBE'],
    ['UNSUBSCRIBE', 'UNSUBSCRIBE'],
    ['unsubscribe c', 'UNSUBSCRIBE'],
  ])('no pattern → BAD_ARGS with the usage: %j', (line, keyword) => {
    const error = refused(line);
    expect(error.code).toBe('BAD_ARGS');
    expect(error.message).toContain(`usage: ${keyword} <id> <pattern> [pattern ...]`);
  });

  test('a bad pattern → BAD_PATTERN', () => {
    expect(refused('SUBSCRIBE c ok a..b').code).toBe('BAD_PATTERN');
    expect(refused('UNSUBSCRIBE c #.a').code).toBe('BAD_PATTERN');
  });
});

describe('UNREGISTER', () => {
  test('one id', () => {
    expect(parsed('UNREGISTER consumer1')).toEqual({ type: 'unregister', id: 'consumer1' });
    expect(parsed('unregister Consumer1')).toEqual({ type: 'unregister', id: 'Consumer1' });
  });

  test.each(['UNREGISTER', 'UNREGISTER a b'])('any other argument count → BAD_ARGS with the usage: %j', (line) => {
    expect(refused(line)).toMatchObject({ code: 'BAD_ARGS', message: expect.stringContaining('usage: UNREGISTER <id>') });
  });
});

describe('PAUSE and RESUME', () => {
  test('one id each', () => {
    expect(parsed('PAUSE billing')).toEqual({ type: 'pause', id: 'billing' });
    expect(parsed('resume Billing')).toEqual({ type: 'resume', id: 'Billing' });
  });

  test.each(['PAUSE', 'PAUSE a b', 'RESUME', 'RESUME a b'])('any other argument count → BAD_ARGS with the usage: %j', (line) => {
    expect(refused(line)).toMatchObject({ code: 'BAD_ARGS', message: expect.stringContaining(`usage: ${line.split(' ')[0]!} <id>`) });
  });
});

describe('REPLAY', () => {
  test('an id and a seq', () => {
    expect(parsed('REPLAY consumer1 42')).toEqual({ type: 'replay', id: 'consumer1', seq: 42 });
    expect(parsed('replay c 1')).toEqual({ type: 'replay', id: 'c', seq: 1 });
  });

  test('the largest exact seq is accepted as is', () => {
    expect(parsed(`REPLAY c ${Number.MAX_SAFE_INTEGER}`)).toMatchObject({ seq: Number.MAX_SAFE_INTEGER });
  });

  test.each([
    ['no seq', 'REPLAY c'],
    ['no arguments', 'REPLAY'],
    ['seq 0', 'REPLAY c 0'],
    ['a negative seq', 'REPLAY c -1'],
    ['a fraction', 'REPLAY c 1.5'],
    ['a word', 'REPLAY c abc'],
    ['an exponent', 'REPLAY c 1e3'],
    ['hex', 'REPLAY c 0x10'],
    ['an extra argument', 'REPLAY c 7 8'],
  ])('%s → BAD_ARGS with the usage', (_why, line) => {
    expect(refused(line)).toMatchObject({ code: 'BAD_ARGS', message: expect.stringContaining('usage: REPLAY <id> <seq>') });
  });

  test('a seq too large to hold exactly is refused, never rounded to another seq', () => {
    for (const seq of ['9007199254740993', '99999999999999999999']) {
      const result = parseRegistrationLine(`REPLAY c ${seq}`);
      const outcome = result.match((c) => `parsed as ${JSON.stringify(c)}`, (e) => e.code);
      expect(outcome, `REPLAY c ${seq}`).toBe('BAD_ARGS');
    }
  });
});

describe('LIST, HELP, QUIT', () => {
  test.each([
    ['LIST', 'list'],
    ['HELP', 'help'],
    ['QUIT', 'quit'],
  ] as const)('%s', (keyword, type) => {
    expect(parsed(keyword)).toEqual({ type });
  });

  test.each(['LIST', 'HELP', 'QUIT'])('%s with an argument → BAD_ARGS', (keyword) => {
    expect(refused(`${keyword} extra`)).toMatchObject({ code: 'BAD_ARGS', message: expect.stringContaining(keyword) });
  });
});

describe('keywords and whitespace', () => {
  test('keywords are case-insensitive', () => {
    expect(parsed('register c tcp://h:1 a')).toMatchObject({ type: 'register' });
    expect(parsed('Subscribe c a')).toMatchObject({ type: 'subscribe' });
    expect(parsed('uNsUbScRiBe c a')).toMatchObject({ type: 'unsubscribe' });
    expect(parsed('Unregister c')).toMatchObject({ type: 'unregister' });
    expect(parsed('replay c 3')).toMatchObject({ type: 'replay' });
    expect(parsed('list')).toEqual({ type: 'list' });
    expect(parsed('Help')).toEqual({ type: 'help' });
    expect(parsed('quit')).toEqual({ type: 'quit' });
  });

  test('property: every keyword in any mix of case parses as the upper-case keyword does', () => {
    const lines: Record<(typeof KEYWORDS)[number], string> = {
      REGISTER: 'REGISTER c tcp://h:1 a.>',
      SUBSCRIBE: 'SUBSCRIBE c a b',
      UNSUBSCRIBE: 'UNSUBSCRIBE c a',
      UNREGISTER: 'UNREGISTER c',
      REPLAY: 'REPLAY c 5',
      PAUSE: 'PAUSE c',
      RESUME: 'RESUME c',
      LIST: 'LIST',
      HELP: 'HELP',
      QUIT: 'QUIT',
    };
    fc.assert(
      fc.property(fc.constantFrom(...KEYWORDS), fc.nat(), (keyword, mask) => {
        const line = lines[keyword];
        expect(parsed(mixCase(keyword, mask) + line.slice(keyword.length))).toEqual(parsed(line));
      }),
    );
  });

  test('runs of spaces and tabs separate words; leading and trailing whitespace is ignored', () => {
    expect(parsed('  REGISTER \t consumer1   tcp://127.0.0.1:9000\tevent1  event2  ')).toEqual(
      parsed('REGISTER consumer1 tcp://127.0.0.1:9000 event1 event2'),
    );
    expect(parsed('\tLIST \t')).toEqual({ type: 'list' });
  });

  test.each(['', ' ', '\t', '   \t  '])('an empty line → UNKNOWN_COMMAND: %j', (line) => {
    const error = refused(line);
    expect(error.code).toBe('UNKNOWN_COMMAND');
    expect(error.message).toContain('HELP');
  });

  test.each(['FOO', 'PUBLISH a b', 'REGISTERX c tcp://h:1', 'AUTH secret', 'event1:hello'])(
    'an unknown command → UNKNOWN_COMMAND naming it: %j',
    (line) => {
      const error = refused(line);
      expect(error.code).toBe('UNKNOWN_COMMAND');
      expect(error.message).toContain(JSON.stringify(line.split(' ')[0]));
    },
  );

  test('the unknown word is cut short in the reason', () => {
    expect(refused('X'.repeat(5000)).message.length).toBeLessThan(200);
  });

  test('property: a first word that is not a keyword is always UNKNOWN_COMMAND', () => {
    const word = fc.stringMatching(/^[!-~]{1,20}$/).filter((w) => !(KEYWORDS as readonly string[]).includes(w.toUpperCase()));
    fc.assert(
      fc.property(word, fc.array(fc.stringMatching(/^[!-~]{1,10}$/), { maxLength: 4 }), (first, rest) => {
        expect(refused([first, ...rest].join(' ')).code).toBe('UNKNOWN_COMMAND');
      }),
    );
  });
});

describe('formatConsumerLine', () => {
  const NONE = { lag: 0, inFlight: 0, deadLetters: 0 };

  test('the telnet walkthrough: id, address, comma-separated patterns, state, position', () => {
    expect(
      formatConsumerLine({
        id: 'consumer1',
        address: 'tcp://127.0.0.1:9000',
        patterns: ['event1', 'event2', 'event3'],
        state: 'offline',
        position: 0,
        ...NONE,
      }),
    ).toBe('consumer1 tcp://127.0.0.1:9000 event1,event2,event3 offline 0 lag=0 in_flight=0 dead_letters=0');
  });

  test('one pattern has no comma', () => {
    expect(formatConsumerLine({ id: 'a', address: 'udp://h:514', patterns: ['logs.#'], state: 'connected', position: 12, lag: 3, inFlight: 2, deadLetters: 1 })).toBe(
      'a udp://h:514 logs.# connected 12 lag=3 in_flight=2 dead_letters=1',
    );
  });

  test('no patterns and no address are shown as -, so every line has five fields before its key=value ones', () => {
    const line = formatConsumerLine({ id: 'api-consumer', address: null, patterns: [], state: 'offline', position: 7, ...NONE });
    expect(line).toBe('api-consumer - - offline 7 lag=0 in_flight=0 dead_letters=0');
    expect(line.split(' ').filter((f) => !f.includes('='))).toHaveLength(5);
  });

  test('property: a LIST line splits back into its five fields and its figures', () => {
    const id = fc.stringMatching(/^[A-Za-z0-9_.:@-]{1,20}$/);
    const pattern = fc.stringMatching(/^[a-z0-9_]{1,6}(\.([a-z0-9_]{1,6}|\*))*(\.#)?$/);
    fc.assert(
      fc.property(
        id,
        fc.constantFrom('tcp://127.0.0.1:9000', 'http://h:80/x?y=1', 'ws://[::1]:8080/ws'),
        fc.uniqueArray(pattern, { minLength: 1, maxLength: 5 }),
        fc.constantFrom('connected', 'retrying', 'offline'),
        fc.nat(),
        fc.nat(),
        (i, address, patterns, state, position, lag) => {
          const fields = formatConsumerLine({ id: i, address, patterns, state, position, lag, inFlight: 0, deadLetters: 0 }).split(' ');
          expect(fields).toEqual([i, address, patterns.join(','), state, String(position), `lag=${lag}`, 'in_flight=0', 'dead_letters=0']);
          expect(fields[2]!.split(',')).toEqual(patterns);
        },
      ),
    );
  });

  test('a last failure follows the figures as last_failure_at=<ms> last_failure=<percent-encoded text>', () => {
    const line = formatConsumerLine({
      id: 'hook',
      address: 'tcp://127.0.0.1:9997',
      patterns: ['orders.*'],
      state: 'retrying',
      position: 4,
      ...NONE,
      lastFailure: { at: 1796529038884, error: 'cannot connect: connect ECONNREFUSED 127.0.0.1:9997' },
    });
    expect(line).toBe(
      'hook tcp://127.0.0.1:9997 orders.* retrying 4 lag=0 in_flight=0 dead_letters=0 last_failure_at=1796529038884 last_failure=cannot%20connect%3A%20connect%20ECONNREFUSED%20127.0.0.1%3A9997',
    );
    expect(formatConsumerLine({ id: 'hook', address: null, patterns: [], state: 'offline', position: 0, ...NONE, lastFailure: null })).toBe('hook - - offline 0 lag=0 in_flight=0 dead_letters=0');
  });

  test('property: any failure text, spaces, = and line breaks included, splits back out of its line whole', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 300 }), fc.nat(), (error, at) => {
        const line = formatConsumerLine({ id: 'c', address: 'http://h:80/x?y=1', patterns: ['a'], state: 'retrying', position: 1, ...NONE, lastFailure: { at, error } });
        expect(line).not.toMatch(/[\r\n]/);
        const fields = line.split(' ');
        expect(fields.slice(0, 5)).toEqual(['c', 'http://h:80/x?y=1', 'a', 'retrying', '1']);
        const keyed = new Map(fields.slice(5).map((f) => [f.slice(0, f.indexOf('=')), f.slice(f.indexOf('=') + 1)]));
        expect([...keyed.keys()]).toEqual(['lag', 'in_flight', 'dead_letters', 'last_failure_at', 'last_failure']);
        expect(Number(keyed.get('last_failure_at'))).toBe(at);
        expect(decodeURIComponent(keyed.get('last_failure')!)).toBe(error);
      }),
    );
  });
});
