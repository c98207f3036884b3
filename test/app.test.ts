// startApp: the start-up line (where everything listens, in words a person can type, and as fields), and the
// failures that stop start-up, each the one error shape with the code the command line prints.
import { existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { openSqliteBroker, readyLine, startApp } from '../src/app.js';
import { silentLogger } from '../src/logger.js';
import { sqliteFile, testAppConfig, testBrokerConfig } from './helpers/broker.js';
import { testScope } from './helpers/scope.js';

const scope = testScope();

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

describe('a start-up that fails', () => {
  test('on a port another program holds: UNAVAILABLE naming the setting, before any database file is made', async () => {
    const { dir } = await scope.dir();
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    scope.defer(() => new Promise((resolve) => holder.close(resolve)));
    const port = (holder.address() as net.AddressInfo).port;
    const db = sqliteFile(join(dir, 'never.db'));
    const started = await startApp(testAppConfig(db, { EVENTBUS_HTTP_PORT: String(port) }), silentLogger);
    if (started.isOk()) scope.defer(() => started.value.stop());
    const e = started._unsafeUnwrapErr();
    expect(e.code).toBe('UNAVAILABLE');
    expect(e.message).toMatch(new RegExp(`^EVENTBUS_HTTP_PORT: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
    expect(e.cause).toBeInstanceOf(Error);
    expect(existsSync(db.dbPath)).toBe(false);
  });

  test('on a push consumer of the environment that REGISTER would refuse: its code, naming the variable', async () => {
    const db = await scope.dir();
    const started = await startApp(testAppConfig(db, { EVENTBUS_CONSUMER_AUDIT: 'ftp://127.0.0.1:21 audit.#' }), silentLogger);
    if (started.isOk()) scope.defer(() => started.value.stop());
    const e = started._unsafeUnwrapErr();
    expect(e.code).toBe('BAD_ADDRESS');
    expect(e.message).toMatch(/^EVENTBUS_CONSUMER_AUDIT: /);
  });

  test('on a database the broker cannot have: UNAVAILABLE, one line', async () => {
    const { dir } = await scope.dir();
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    const opened = await openSqliteBroker(testBrokerConfig(join(file, 'bus.db')), silentLogger);
    if (opened.isOk()) scope.defer(() => opened.value.broker.close());
    const e = opened._unsafeUnwrapErr();
    expect(e.code).toBe('UNAVAILABLE');
    expect(e.message).toContain(join(file, 'bus.db'));
    expect(e.message).not.toContain('\n');
  });
});
