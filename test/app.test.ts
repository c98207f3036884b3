// The start-up line of startApp: where everything listens, in words a person can type, and as fields.
import { describe, expect, test } from 'vitest';
import { readyLine } from '../src/app.js';

const ports = { transport: 49152, registration: 49153, http: 3000 };

describe('the start-up line', () => {
  test('names each front-end by what a person does with it, with the database', () => {
    expect(readyLine('127.0.0.1', ports, 'data/eventbus.db')).toEqual({
      message:
        'eventbus ready: publish with telnet 127.0.0.1 49152, register consumers with telnet 127.0.0.1 49153, ' +
        'HTTP/WebSocket on http://127.0.0.1:3000 (ws://127.0.0.1:3000/ws), database data/eventbus.db',
      fields: {
        ready: {
          ingress: '127.0.0.1:49152',
          registration: '127.0.0.1:49153',
          http: 'http://127.0.0.1:3000',
          websocket: 'ws://127.0.0.1:3000/ws',
          db: 'data/eventbus.db',
        },
      },
    });
  });

  test.each([
    ['0.0.0.0', 'telnet 127.0.0.1 49152', 'http://127.0.0.1:3000', '127.0.0.1:49152'],
    ['::', 'telnet ::1 49152', 'http://[::1]:3000', '[::1]:49152'],
    ['::1', 'telnet ::1 49152', 'http://[::1]:3000', '[::1]:49152'],
    ['bus.internal', 'telnet bus.internal 49152', 'http://bus.internal:3000', 'bus.internal:49152'],
  ])('bound to %s: addresses a person can type (%s, %s)', (host, telnet, url, ingress) => {
    const { message, fields } = readyLine(host, ports, 'bus.db');
    expect(message).toContain(`publish with ${telnet},`);
    expect(message).toContain(`HTTP/WebSocket on ${url} (${url.replace('http', 'ws')}/ws)`);
    expect(fields).toMatchObject({ ready: { ingress, http: url } });
    expect(message.endsWith(`(listening on every interface: ${host})`)).toBe(host === '0.0.0.0' || host === '::');
  });

  test('says where it listens with tls, https and wss', () => {
    const { message, fields } = readyLine('127.0.0.1', { transport: 49152, registration: 49153, http: 3000 }, 'bus.db', true);
    expect(message).toBe(
      'eventbus ready (TLS): publish with openssl s_client -quiet -connect 127.0.0.1:49152, register consumers with openssl s_client -quiet -connect 127.0.0.1:49153, ' +
        'HTTPS/WebSocket on https://127.0.0.1:3000 (wss://127.0.0.1:3000/ws), database bus.db',
    );
    expect(fields).toMatchObject({ ready: { http: 'https://127.0.0.1:3000', websocket: 'wss://127.0.0.1:3000/ws', tls: true } });
  });
});
