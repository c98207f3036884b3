// Push addresses (PROTOCOL.md §4): `<proto>://<host>:<port>[/path]` for tcp, udp, ws and http, the form they
// are stored and listed in, BAD_ADDRESS with a reason for every malformed one, and EVENTBUS_ALLOWED_TARGETS
// (PROTOCOL.md §1) through isAllowedTarget.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { isAllowedTarget, parseAddress, PUSH_PROTOCOLS, type PushAddress } from '../../src/protocol/address.js';

const parsed = (text: string): PushAddress => parseAddress(text)._unsafeUnwrap();
const refused = (text: string) => parseAddress(text)._unsafeUnwrapErr();

describe('well-formed addresses', () => {
  test('the telnet walkthrough: tcp://127.0.0.1:9000', () => {
    expect(parsed('tcp://127.0.0.1:9000')).toEqual({
      protocol: 'tcp',
      host: '127.0.0.1',
      port: 9000,
      path: '/',
      url: 'tcp://127.0.0.1:9000',
    });
  });

  test.each([
    ['tcp://localhost:9000', { protocol: 'tcp', host: 'localhost', port: 9000, path: '/', url: 'tcp://localhost:9000' }],
    ['udp://10.0.0.7:514', { protocol: 'udp', host: '10.0.0.7', port: 514, path: '/', url: 'udp://10.0.0.7:514' }],
    ['ws://consumer.example.com:8080/ws', { protocol: 'ws', host: 'consumer.example.com', port: 8080, path: '/ws', url: 'ws://consumer.example.com:8080/ws' }],
    ['http://hooks.internal:8080/events/in', { protocol: 'http', host: 'hooks.internal', port: 8080, path: '/events/in', url: 'http://hooks.internal:8080/events/in' }],
    ['wss://consumer.example.com:443/ws', { protocol: 'wss', host: 'consumer.example.com', port: 443, path: '/ws', url: 'wss://consumer.example.com:443/ws' }],
    ['https://hooks.example.com:443/in', { protocol: 'https', host: 'hooks.example.com', port: 443, path: '/in', url: 'https://hooks.example.com:443/in' }],
  ] as const)('each of the protocols: %s', (text, expected) => {
    expect(parsed(text)).toEqual(expected);
  });

  test('every supported protocol is accepted, and only tcp, udp, ws, http, wss, https are', () => {
    expect([...PUSH_PROTOCOLS].sort()).toEqual(['http', 'https', 'tcp', 'udp', 'ws', 'wss']);
    for (const protocol of PUSH_PROTOCOLS) expect(parsed(`${protocol}://h:1`).protocol).toBe(protocol);
  });

  test('an IPv6 host in brackets keeps its brackets in the host and the url', () => {
    expect(parsed('tcp://[::1]:9000')).toMatchObject({ host: '[::1]', port: 9000, url: 'tcp://[::1]:9000' });
    expect(parsed('ws://[fe80::1:2]:8080/ws')).toMatchObject({ host: '[fe80::1:2]', port: 8080, path: '/ws', url: 'ws://[fe80::1:2]:8080/ws' });
    expect(parsed('udp://[::ffff:10.0.0.1]:514')).toMatchObject({ host: '[::ffff:10.0.0.1]', port: 514 });
  });

  test.each([
    ['http://h:80', 80],
    ['ws://h:80', 80],
    ['http://h:443/x', 443],
  ])('an explicit default port is kept, not dropped as URL would: %s', (text, port) => {
    const address = parsed(text);
    expect(address.port).toBe(port);
    expect(address.url).toContain(`:${port}`);
  });

  test('http://h:80 is listed as http://h:80', () => {
    expect(parsed('http://h:80').url).toBe('http://h:80');
  });

  test('the lowest and highest ports are accepted', () => {
    expect(parsed('tcp://h:1').port).toBe(1);
    expect(parsed('tcp://h:65535').port).toBe(65535);
  });

  test('protocol and host are case-insensitive and stored in lower case', () => {
    expect(parsed('TCP://Consumer.Example.COM:9000')).toMatchObject({
      protocol: 'tcp',
      host: 'consumer.example.com',
      url: 'tcp://consumer.example.com:9000',
    });
  });

  test('ws and http paths are kept, query included, with their case', () => {
    expect(parsed('http://h:8080/Hooks/In?token=AbC&x=1')).toMatchObject({
      path: '/Hooks/In?token=AbC&x=1',
      url: 'http://h:8080/Hooks/In?token=AbC&x=1',
    });
    expect(parsed('ws://h:8080/a/b/c')).toMatchObject({ path: '/a/b/c', url: 'ws://h:8080/a/b/c' });
  });

  test('no path (or a bare /) is path "/" and the url has no trailing slash', () => {
    expect(parsed('http://h:8080')).toMatchObject({ path: '/', url: 'http://h:8080' });
    expect(parsed('http://h:8080/')).toMatchObject({ path: '/', url: 'http://h:8080' });
    expect(parsed('tcp://h:9000/')).toMatchObject({ path: '/', url: 'tcp://h:9000' });
    expect(parsed('udp://h:9000/')).toMatchObject({ path: '/', url: 'udp://h:9000' });
  });
});

describe('malformed addresses are refused with BAD_ADDRESS and a reason', () => {
  const expectRefused = (text: string, reason: RegExp): void => {
    const error = refused(text);
    expect(error.code).toBe('BAD_ADDRESS');
    expect(error.message).toMatch(reason);
  };

  test.each(['127.0.0.1:9000', 'localhost:9000', '//h:9000', 'tcp:/h:9000', 'tcp:h:9000', ''])(
    'no scheme: %j',
    (text) => expectRefused(text, /<proto>:\/\/<host>:<port>/),
  );

  test.each([
    ['ftp://h:21', 'ftp'],
    ['tls://h:9000', 'tls'],
    ['mqtt://h:1883', 'mqtt'],
  ])('an unsupported scheme is named, with the supported ones: %s', (text, scheme) => {
    expectRefused(text, new RegExp(`unsupported protocol "${scheme}".*tcp, udp, ws, http, wss, https`));
  });

  test.each(['tcp://h', 'tcp://127.0.0.1', 'http://h/path', 'ws://[::1]/ws', 'tcp://h:', 'http://h:/x'])('no port: %s', (text) => {
    expectRefused(text, /no port/);
  });

  test.each(['tcp://h:0', 'tcp://h:65536', 'http://h:99999/x', 'udp://h:00000'])('a port out of 1-65535: %s', (text) => {
    expectRefused(text, /port must be 1-65535/);
  });

  test.each(['tcp://h:abc', 'http://h:eighty/x', 'tcp://h:-1', 'tcp://h:123456', 'http://h:100000/x', 'tcp://h:9e3'])(
    'a port that is not a number from 1 to 65535 is reported as a port problem: %s',
    (text) => expectRefused(text, /port/),
  );

  test.each(['tcp://h:9000/x', 'udp://h:514/log', 'tcp://h:9000?x=1', 'udp://h:514//'])('tcp and udp refuse a path: %s', (text) => {
    expectRefused(text, /take no path/);
  });

  test.each(['http://h:80/p#frag', 'ws://h:8080/ws#top', 'http://h:80/p?q=1#f', 'http://h:80#frag', 'tcp://h:9000#frag'])(
    'a fragment is refused as a fragment: %s',
    (text) => expectRefused(text, /fragment/),
  );

  test.each(['tcp://:9000', 'tcp://[zz]:9000', 'tcp://user@h:9000', 'http://h:80x', 'http://999.1.1.1:80'])('an unparsable host part: %j', (text) => {
    expect(refused(text).code).toBe('BAD_ADDRESS');
    expect(refused(text).message.length).toBeGreaterThan(0);
  });

  test('the reason quotes the address, cut short when it is huge', () => {
    expect(refused('ftp://h:21').message).toContain('"ftp://h:21"');
    const huge = `ftp://${'h'.repeat(10_000)}:21`;
    expect(refused(huge).message.length).toBeLessThan(400);
  });
});

describe('property: generated addresses', () => {
  // Labels start with a letter: WHATWG URL (which ws/http paths go through) reads `a.0` as a bad IPv4.
  const label = fc.stringMatching(/^[a-zA-Z]([a-zA-Z0-9-]{0,10}[a-zA-Z0-9])?$/);
  const hostName = fc.array(label, { minLength: 1, maxLength: 4 }).map((labels) => labels.join('.'));
  const host = fc.oneof(
    hostName,
    fc.ipV4(),
    fc.ipV6().map((ip) => `[${ip}]`),
  );
  const port = fc.integer({ min: 1, max: 65535 });
  const path = fc
    .array(fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/), { minLength: 1, maxLength: 4 })
    .map((segments) => `/${segments.join('/')}`);

  test('any host and port parse to themselves for every protocol, and the url parses back to the same address', () => {
    fc.assert(
      fc.property(fc.constantFrom(...PUSH_PROTOCOLS), host, port, (protocol, h, p) => {
        const address = parsed(`${protocol}://${h}:${p}`);
        expect(address).toEqual({ protocol, host: h.toLowerCase(), port: p, path: '/', url: `${protocol}://${h.toLowerCase()}:${p}` });
        expect(parsed(address.url)).toEqual(address);
      }),
    );
  });

  test('ws and http keep any plain path; tcp and udp refuse it', () => {
    fc.assert(
      fc.property(host, port, path, (h, p, pathText) => {
        for (const protocol of ['ws', 'http'] as const) {
          const address = parsed(`${protocol}://${h}:${p}${pathText}`);
          expect(address.path).toBe(pathText);
          expect(address.url).toBe(`${protocol}://${h.toLowerCase()}:${p}${pathText}`);
          expect(parsed(address.url)).toEqual(address);
        }
        for (const protocol of ['tcp', 'udp'] as const) {
          expect(refused(`${protocol}://${h}:${p}${pathText}`).code).toBe('BAD_ADDRESS');
        }
      }),
    );
  });

  test('any port above 65535 is refused as a port problem', () => {
    fc.assert(
      fc.property(fc.constantFrom(...PUSH_PROTOCOLS), fc.integer({ min: 65536, max: 10_000_000 }), (protocol, p) => {
        const error = refused(`${protocol}://h:${p}`);
        expect(error.code).toBe('BAD_ADDRESS');
        expect(error.message).toMatch(/port/);
      }),
    );
  });
});

describe('isAllowedTarget (EVENTBUS_ALLOWED_TARGETS)', () => {
  const allowed = (address: string, patterns: readonly string[] | undefined): boolean => isAllowedTarget(parsed(address), patterns);

  test('no list allows every address', () => {
    for (const address of ['tcp://127.0.0.1:9000', 'udp://10.9.8.7:514', 'ws://[::1]:1/ws', 'http://anything.example:65535/x']) {
      expect(allowed(address, undefined)).toBe(true);
    }
  });

  test('an empty list allows nothing', () => {
    expect(allowed('tcp://127.0.0.1:9000', [])).toBe(false);
  });

  test('a host pattern allows that host on any port and any protocol, and no other host', () => {
    const list = ['hooks.internal'];
    expect(allowed('http://hooks.internal:8080/in', list)).toBe(true);
    expect(allowed('tcp://hooks.internal:1', list)).toBe(true);
    expect(allowed('udp://hooks.internal:65535', list)).toBe(true);
    expect(allowed('http://hooks.internal.evil.com:8080/in', list)).toBe(false);
    expect(allowed('http://evilhooks.internal:8080/in', list)).toBe(false);
    expect(allowed('http://other.internal:8080/in', list)).toBe(false);
  });

  test('host patterns compare case-insensitively', () => {
    expect(allowed('tcp://hooks.internal:9000', ['Hooks.INTERNAL'])).toBe(true);
    expect(allowed('tcp://Hooks.Internal:9000', ['hooks.internal'])).toBe(true);
  });

  test('dots in a pattern are literal dots, not "any character"', () => {
    expect(allowed('tcp://10.0.0.1:9000', ['10.0.0.1'])).toBe(true);
    expect(allowed('tcp://10a0b0c1:9000', ['10.0.0.1'])).toBe(false);
  });

  test('* matches any run of characters in the host', () => {
    expect(allowed('tcp://a.internal:9000', ['*.internal'])).toBe(true);
    expect(allowed('tcp://a.b.internal:9000', ['*.internal'])).toBe(true);
    expect(allowed('tcp://internal:9000', ['*.internal'])).toBe(false);
    expect(allowed('tcp://internal.com:9000', ['*.internal'])).toBe(false);
    expect(allowed('tcp://10.0.3.4:9000', ['10.0.*'])).toBe(true);
    expect(allowed('tcp://10.1.3.4:9000', ['10.0.*'])).toBe(false);
    expect(allowed('tcp://110.0.3.4:9000', ['10.0.*'])).toBe(false);
    expect(allowed('tcp://hooks-7.eu.internal:9000', ['hooks-*.*.internal'])).toBe(true);
  });

  test('a lone * allows every host', () => {
    expect(allowed('tcp://anything.example:1', ['*'])).toBe(true);
    expect(allowed('http://[::1]:8080/x', ['*'])).toBe(true);
  });

  test('a port-qualified pattern allows that port only', () => {
    expect(allowed('tcp://127.0.0.1:9000', ['127.0.0.1:9000'])).toBe(true);
    expect(allowed('tcp://127.0.0.1:9001', ['127.0.0.1:9000'])).toBe(false);
    expect(allowed('tcp://127.0.0.2:9000', ['127.0.0.1:9000'])).toBe(false);
    expect(allowed('http://a.internal:443/x', ['*.internal:443'])).toBe(true);
    expect(allowed('http://a.internal:80/x', ['*.internal:443'])).toBe(false);
    expect(allowed('http://h:80', ['h:80'])).toBe(true);
  });

  test('an address is allowed when any one of several patterns matches it', () => {
    const list = ['127.0.0.1:9000', '*.internal', '10.0.*:514'];
    expect(allowed('tcp://127.0.0.1:9000', list)).toBe(true);
    expect(allowed('ws://x.internal:1/ws', list)).toBe(true);
    expect(allowed('udp://10.0.0.1:514', list)).toBe(true);
    expect(allowed('udp://10.0.0.1:515', list)).toBe(false);
    expect(allowed('tcp://127.0.0.1:9001', list)).toBe(false);
  });

  test('regular-expression characters in a pattern are taken literally', () => {
    expect(allowed('tcp://hooks.internal:9000', ['hooks.internal|evil'])).toBe(false);
    expect(allowed('tcp://evil:9000', ['hooks.internal|evil'])).toBe(false);
    expect(allowed('tcp://hooks:9000', ['(hooks)'])).toBe(false);
  });

  test('a bracketed IPv6 pattern allows that IPv6 host', () => {
    expect(allowed('tcp://[::1]:9000', ['[::1]'])).toBe(true);
    expect(allowed('tcp://[::2]:9000', ['[::1]'])).toBe(false);
  });

  test('a port-qualified IPv6 pattern [::1]:9000 allows that host on that port only', () => {
    expect(allowed('tcp://[::1]:9000', ['[::1]:9000'])).toBe(true);
    expect(allowed('tcp://[::1]:9001', ['[::1]:9000'])).toBe(false);
  });
});
